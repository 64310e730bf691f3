// An independent client discovering what an API URL needs (RFC 9728,
// RFC 8414): oauth4webapi, which erpgate does not write. It calls the API
// with a token that is not one, follows the challenge's resource_metadata
// hint, checks the metadata as RFC 9728 §3.3 says (its resource is the
// URL called), finds the same metadata by path insertion (§3.1), reads
// the issuer's metadata at RFC 8414's path, gets a client-credentials
// token for the scopes the metadata names and calls the API with it. It
// prints one JSON line for e2e/resource_metadata_test.go to judge.
//
//   node resource_discovery.mjs API_URL CLIENT_ID CLIENT_SECRET
import * as oauth from 'oauth4webapi';

const [apiURL, clientId, clientSecret] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true }; // loopback http in the test
const api = new URL(apiURL);

let hint = '';
let challenge = '';
try {
  await oauth.protectedResourceRequest('not-a-token', 'GET', api, undefined, undefined, insecure);
} catch (err) {
  if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
  challenge = err.response.headers.get('www-authenticate');
  hint = err.cause[0].parameters.resource_metadata ?? '';
}
const hinted = await oauth.processResourceDiscoveryResponse(api, await fetch(hint));
const inserted = await oauth.processResourceDiscoveryResponse(api, await oauth.resourceDiscoveryRequest(api, insecure));

const issuer = new URL(hinted.authorization_servers[0]);
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));

const client = { client_id: clientId };
const scope = hinted.scopes_supported.join(' ');
const tokens = await oauth.processClientCredentialsResponse(as, client,
  await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost(clientSecret), { scope }, insecure));
const call = await oauth.protectedResourceRequest(tokens.access_token, 'GET', api, undefined, undefined, insecure);
await call.arrayBuffer();

console.log(JSON.stringify({
  challenge,
  hint,
  resource: hinted.resource,
  inserted_resource: inserted.resource,
  authorization_servers: hinted.authorization_servers,
  scopes: hinted.scopes_supported,
  issuer: as.issuer,
  token_scope: tokens.scope ?? '',
  api_status: call.status,
}));
