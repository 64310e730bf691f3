// An OpenID provider for Go tests: the npm package oidc-provider (not a
// stub of ours), configured from the JSON options read on stdin, with a
// login page of its own in place of devInteractions so that the login
// result can carry amr (RFC 8176 "pwd"). It listens on a free loopback
// port and prints {"url": ..., "issuer": ...} on one line when ready.
//
//   node provider.mjs <dir holding node_modules/oidc-provider>  < options.json
//
// options: {clients: [{id, secret, redirect_uris, post_logout_redirect_uris}],
//           accounts: [{id, claims}], issuer}
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [jsDir] = process.argv.slice(2);
if (!jsDir) {
  console.error('usage: node provider.mjs <dir holding node_modules/oidc-provider>');
  process.exit(2);
}
// ES modules do not read NODE_PATH: resolve the package from jsDir.
const require = createRequire(resolve(jsDir, 'package.json'));
const { default: Provider } = await import(pathToFileURL(require.resolve('oidc-provider')).href);

let input = '';
for await (const chunk of process.stdin) input += chunk;
const opts = JSON.parse(input);

const accounts = new Map((opts.accounts ?? []).map((a) => [a.id, a.claims ?? {}]));

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`;

const server = createServer();
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${server.address().port}`;
// A fixed issuer is advertised as is (wrong-issuer tests); the endpoints
// are still this server's, since oidc-provider builds them from the
// request.
const issuer = opts.issuer || url;

const provider = new Provider(issuer, {
  clients: (opts.clients ?? []).map((c) => ({
    client_id: c.id,
    ...(c.secret ? { client_secret: c.secret } : { token_endpoint_auth_method: 'none' }),
    redirect_uris: c.redirect_uris ?? [],
    post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  })),
  async findAccount(ctx, sub) {
    if (!accounts.has(sub)) return undefined;
    return { accountId: sub, claims: async () => ({ ...accounts.get(sub), sub }) };
  },
  // ID tokens carry the claims of every granted scope, as Entra ID's and
  // Google's do (oidc-provider's default, conformIdTokenClaims, would
  // leave all but scope openid's to userinfo). Top-level null entries
  // are oidc-provider's defaults.
  conformIdTokenClaims: false,
  claims: {
    acr: null,
    auth_time: null,
    sid: null,
    openid: ['sub', 'amr'],
    profile: ['name', 'preferred_username', 'groups', 'tid'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  // Every client must use PKCE; oidc-provider 9 knows only S256.
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
  },
  // Consent is granted as asked, so the only interaction is the login
  // form.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    const grant = (grantId && await oidc.provider.Grant.find(grantId))
      || new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    grant.addOIDCScope(oidc.params.scope ?? 'openid');
    if (oidc.claims?.id_token) grant.addOIDCClaims(Object.keys(oidc.claims.id_token));
    if (oidc.claims?.userinfo) grant.addOIDCClaims(Object.keys(oidc.claims.userinfo));
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out).map(([k, v]) => `<p><b>${esc(k)}</b>: ${esc(v)}</p>`).join(''));
  },
});

function loginForm(uid, message) {
  return page('Sign in', `${message ? `<p role="alert">${esc(message)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login">
<label>Login <input id="login" name="login" autocomplete="username" required autofocus></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

// The login page: any password is accepted for an account that exists
// (the test names the account); the login result says the person typed a
// password.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt } = details;
  if (prompt.name === 'consent') {
    // Reached only when loadExistingGrant did not cover a request.
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return;
  }
  if (prompt.name !== 'login') {
    send(res, 501, page('Error', `<p>prompt ${esc(prompt.name)} not implemented</p>`));
    return;
  }
  if (req.method === 'GET') {
    send(res, 200, loginForm(uid));
    return;
  }
  if (req.method !== 'POST' || !req.url.endsWith('/login')) {
    send(res, 405, page('Error', '<p>method not allowed</p>'));
    return;
  }
  const form = await readForm(req);
  const login = form.get('login') ?? '';
  if (!accounts.has(login) || !form.get('password')) {
    send(res, 200, loginForm(uid, 'Unknown account or empty password.'));
    return;
  }
  await provider.interactionFinished(req, res, {
    login: { accountId: login, amr: ['pwd'] },
  }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) send(res, 400, page('Error', `<p>${esc(err.message)}</p>`));
      else res.end();
    });
    return;
  }
  callback(req, res);
});

process.on('SIGTERM', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ url, issuer })}\n`);
