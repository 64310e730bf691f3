// An independent DPoP client (RFC 9449) against erpgate: openid-client,
// which erpgate does not write. It discovers the issuer, makes a key
// pair, gets a client-credentials token with a proof, calls the API
// through the gateway with the DPoP scheme, then tries the same token as
// a bearer token and the same proof twice. It prints one JSON line for
// e2e/dpop_test.go to judge.
//
//   node dpop_client.mjs ISSUER CLIENT_ID CLIENT_SECRET API_URL
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, apiURL] = process.argv.slice(2);
// Every answer that asks for a server nonce (RFC 9449 §8, §9), counted.
let nonceChallenges = 0;
const observe = async (url, options) => {
  const resp = await fetch(url, options);
  if (resp.headers.get('dpop-nonce') && (resp.status === 400 || resp.status === 401)) nonceChallenges++;
  return resp;
};
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined,
  { execute: [client.allowInsecureRequests], [client.customFetch]: observe }); // loopback http in the test
const meta = config.serverMetadata();
const keyPair = await client.randomDPoPKeyPair('ES256');
const DPoP = client.getDPoPHandle(config, keyPair);

const tokens = await client.clientCredentialsGrant(config, { scope: 'read' }, { DPoP });
const api = await client.fetchProtectedResource(config, tokens.access_token, new URL(apiURL), 'GET', undefined, undefined, { DPoP });
const body = await api.json();

// The same token as a bearer token: what a thief without the key sends.
const bearer = await fetch(apiURL, { headers: { Authorization: `Bearer ${tokens.access_token}` } });

// A proof replayed: openid-client's own proof of the last call, sent again.
let replayStatus = 0;
let captured;
const capture = {
  [client.customFetch]: async (url, options) => {
    captured = new Headers(options.headers);
    return observe(url, options);
  },
};
Object.assign(config, capture);
const again = await client.fetchProtectedResource(config, tokens.access_token, new URL(apiURL), 'GET', undefined, undefined, { DPoP });
await again.arrayBuffer();
if (captured) {
  const replay = await fetch(apiURL, { headers: { Authorization: captured.get('authorization'), DPoP: captured.get('dpop') } });
  replayStatus = replay.status;
}

console.log(JSON.stringify({
  algs: meta.dpop_signing_alg_values_supported,
  token_type: tokens.token_type,
  api_status: api.status,
  subject: body.auth && body.auth.subject,
  again_status: again.status,
  bearer_status: bearer.status,
  bearer_challenge: bearer.headers.get('www-authenticate'),
  replay_status: replayStatus,
  nonce_challenges: nonceChallenges,
}));
