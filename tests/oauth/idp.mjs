// SPDX-License-Identifier: MIT
//
// The OAuth2 / OpenID Connect authorization server of the tests: the npm
// package oidc-provider (pinned in package.json) over HTTPS on 127.0.0.1,
// with its own sign-in and consent pages that check the user's password
// (the package's development pages accept anyone), the users of
// tests/lib/mailserver.c, and the clients QMail and Dovecot need. Started
// by tests/lib/idp.c; docs/MAIL.md ("OAuth2") says what it offers.
//
//   node tests/oauth/idp.mjs --cert server.crt --key server.key
//        [--port N] [--access-ttl SECONDS] [--rotate yes|no]
//
// --rotate yes (the default, as Microsoft): every refresh returns a new
// refresh token and the old one is spent (using it again revokes the
// grant). --rotate no (as Google): the refresh token stays, and the
// refresh answer carries none.
//
// Prints "ready <port>" on stdout once it listens (port 0 or none: a free
// one). Everything is kept in memory; stopping it forgets every token.
//
// Test-only extras, beside the real endpoints: GET /test/grants answers
// {"success": {grant_type: n}, "error": {grant_type: {error: n}}}, the
// token endpoint's grants so far (tests assert "a refresh happened");
// POST /test/revoke with user=alice revokes all her grants with their
// refresh and access tokens (the user withdrew the app's access, for
// tests that cannot see the tokens QMail keeps sealed) and answers
// {"revoked": n}.

import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { timingSafeEqual } from 'node:crypto';

import Provider from 'oidc-provider';

function usage(msg) {
  process.stderr.write(`idp: ${msg}\n`
    + 'usage: idp.mjs --cert FILE --key FILE [--port N] [--access-ttl S] [--rotate yes|no]\n');
  process.exit(2);
}

const opt = { port: 0, accessTtl: 60, rotate: 'yes' };
for (let i = 2; i < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i], process.argv[i + 1]];
  if (v === undefined) usage(`${k} needs a value`);
  if (k === '--cert') opt.cert = v;
  else if (k === '--key') opt.key = v;
  else if (k === '--port') opt.port = Number(v);
  else if (k === '--access-ttl') opt.accessTtl = Number(v);
  else if (k === '--rotate') opt.rotate = v;
  else usage(`unknown option ${k}`);
}
if (!opt.cert || !opt.key) usage('--cert and --key are required');
if (!Number.isInteger(opt.port) || opt.port < 0 || opt.port > 65535) usage('bad --port');
if (!Number.isInteger(opt.accessTtl) || opt.accessTtl < 1) usage('bad --access-ttl');
if (opt.rotate !== 'yes' && opt.rotate !== 'no') usage('--rotate is yes or no');

// The users of tests/lib/mailserver.c: the account id (and so "sub") is
// the address, the IMAP login name Dovecot compares with.
const DOMAIN = 'qmail.test';
const USERS = new Map([
  ['alice', 'alice-Pw-7341'],
  ['bob', 'bob-Pw-1188'],
  ['carol', 'carol-Pw-5520'],
]);

// A client secret of the tests (not a secret outside them); tests/lib/idp.h
// has the same values.
const CLIENTS = [
  {
    // QMail as a native app: public, PKCE, loopback redirect on any port
    // (RFC 8252 7.3; oidc-provider ignores the port of a loopback
    // redirect URI for native clients, the path must match one of these).
    client_id: 'qmail-test',
    client_name: 'QMail (test)',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token',
      'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/', 'http://127.0.0.1/callback',
      'http://127.0.0.1/oauth2/callback', 'http://localhost/',
      'http://localhost/callback', 'http://[::1]/'],
  },
  {
    // A provider that wants a client secret even from a native app.
    client_id: 'qmail-secret',
    client_secret: 'qmail-secret-Sx-20917',
    client_name: 'QMail (test, with a secret)',
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['authorization_code', 'refresh_token',
      'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/', 'http://127.0.0.1/callback',
      'http://127.0.0.1/oauth2/callback', 'http://localhost/',
      'http://localhost/callback', 'http://[::1]/'],
  },
  {
    // Dovecot: a resource server that only introspects (RFC 7662).
    client_id: 'dovecot',
    client_secret: 'dovecot-Sx-55102',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
];

function sameString(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

// The account id of a user named "alice" or "alice@qmail.test"; null.
function checkUser(login) {
  const name = String(login || '').trim().toLowerCase().replace(`@${DOMAIN}`, '');
  return USERS.has(name) ? `${name}@${DOMAIN}` : null;
}

function checkPassword(login, password) {
  const id = checkUser(login);
  if (!id || !sameString(password || '', USERS.get(id.replace(`@${DOMAIN}`, '')))) return null;
  return id;
}

async function findAccount(_ctx, id) {
  const name = String(id).replace(`@${DOMAIN}`, '');
  if (!USERS.has(name)) return undefined;
  return {
    accountId: id,
    async claims() {
      return { sub: id, email: id, email_verified: true };
    },
  };
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:24rem;margin:2rem auto;padding:0 1rem}
input,button{display:block;width:100%;margin:.5rem 0;padding:.5rem;font-size:1rem}
.error{color:#b00020}</style></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

const ttl = {
  AccessToken: opt.accessTtl,
  AuthorizationCode: 60,
  DeviceCode: 600,
  Grant: 14 * 24 * 3600,
  IdToken: 3600,
  Interaction: 600,
  RefreshToken: 14 * 24 * 3600,
  Session: 24 * 3600,
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'qmt-rs256' };

const configuration = {
  clients: CLIENTS,
  findAccount,
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // "mail": the scope of IMAP/POP3/SMTP access (as Google's
  // https://mail.google.com/ or Microsoft's IMAP.AccessAsUser.All).
  scopes: ['openid', 'offline_access', 'email', 'mail'],
  pkce: { methods: ['S256'], required: () => true },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: {
      enabled: true,
      charset: 'base-20',
      mask: '****-****',
      async userCodeInputSource(ctx, form, _out, err) {
        let msg = '<p>Enter the code shown on your device.</p>';
        if (err?.name === 'AbortedError') msg = '<p class="error" id="device-aborted">The sign-in was aborted.</p>';
        else if (err) msg = '<p class="error">That code is not valid.</p>';
        ctx.body = page('Device sign-in', `${msg}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
      },
      async userCodeConfirmSource(ctx, form, client, _info, userCode) {
        ctx.body = page('Confirm device', `<p><strong>${esc(client.clientName || client.clientId)}</strong> shows the code <code>${esc(userCode)}</code>.</p>${form}`
          + '<button type="submit" form="op.deviceConfirmForm">Continue</button>'
          + '<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>');
      },
      async successSource(ctx) {
        ctx.body = page('Signed in', '<p id="device-success">The device is signed in; you can close this page.</p>');
      },
    },
    introspection: {
      enabled: true,
      // only a confidential client (Dovecot) may introspect others' tokens
      allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none'
        || token.clientId === ctx.oidc.client.clientId,
    },
    revocation: { enabled: true },
  },
  async extraTokenClaims(_ctx, token) {
    // in the introspection response too: Dovecot's username_attribute
    return token.accountId ? { email: token.accountId } : undefined;
  },
  // A refresh token with every code and device grant of a client that may
  // refresh, as Microsoft (offline_access) and Google (access_type=offline)
  // give one without prompt=consent; oidc-provider on its own follows
  // OpenID Connect Core and drops offline_access unless prompt=consent.
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  expiresWithSession: async () => false,
  rotateRefreshToken: () => opt.rotate === 'yes',
  ttl,
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', Object.entries(out).map(([k, v]) => `<p class="error" data-key="${esc(k)}">${esc(k)}: ${esc(v)}</p>`).join(''));
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
};

const issuerPort = opt.port;
const server = createServer({ cert: readFileSync(opt.cert), key: readFileSync(opt.key) });

const grants = { success: {}, error: {} };
const grantsOf = new Map(); // account id -> Set of grant ids

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 65536) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function loginForm(uid, message, login) {
  return page('Sign in', `${message ? `<p class="error" id="login-error">${esc(message)}</p>` : ''}
<form id="login" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label>Address <input type="text" name="login" value="${esc(login || '')}" autofocus></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Sign in</button></form>
<form id="abort" method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

function consentForm(uid, client, scopes, account) {
  return page('Allow access?', `<p>${esc(client.clientName || client.clientId)} asks to use the account <strong>${esc(account)}</strong>: ${scopes.map(esc).join(', ')}.</p>
<form id="consent" method="post" action="/interaction/${esc(uid)}/confirm"><button type="submit" name="allow" value="yes">Allow</button></form>
<form id="abort" method="post" action="/interaction/${esc(uid)}/abort"><button type="submit" name="deny" value="yes">Deny</button></form>`);
}

function start(provider) {
  provider.on('grant.success', (ctx) => {
    const t = ctx.oidc.params.grant_type;
    grants.success[t] = (grants.success[t] || 0) + 1;
  });
  // the grants (a user's consent to a client) of each account, for
  // /test/revoke
  provider.on('grant.saved', (grant) => {
    if (!grantsOf.has(grant.accountId)) grantsOf.set(grant.accountId, new Set());
    grantsOf.get(grant.accountId).add(grant.jti);
  });
  provider.on('grant.error', (ctx, err) => {
    const t = ctx.oidc?.params?.grant_type || '(none)';
    const e = err.error || err.name;
    grants.error[t] ||= {};
    grants.error[t][e] = (grants.error[t][e] || 0) + 1;
  });

  // The sign-in and consent pages (oidc-provider's interaction API).
  provider.use(async (ctx, next) => {
    if (ctx.path === '/test/grants' && ctx.method === 'GET') {
      ctx.type = 'json';
      ctx.body = JSON.stringify(grants);
      return;
    }
    if (ctx.path === '/test/revoke' && ctx.method === 'POST') {
      // the user withdraws every client's access (as on the provider's
      // account page): each grant with its refresh and access tokens
      const form = await readForm(ctx.req);
      const id = checkUser(form.get('user'));
      let n = 0;
      if (!id) ctx.throw(400, 'no such user');
      for (const grantId of grantsOf.get(id) || []) {
        await Promise.all([
          provider.AccessToken.revokeByGrantId(grantId),
          provider.RefreshToken.revokeByGrantId(grantId),
          provider.AuthorizationCode.revokeByGrantId(grantId),
          provider.DeviceCode.revokeByGrantId(grantId),
          provider.Grant.adapter.destroy(grantId),
        ]);
        n += 1;
      }
      grantsOf.delete(id);
      ctx.type = 'json';
      ctx.body = JSON.stringify({ revoked: n });
      return;
    }
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/.exec(ctx.path);
    if (!m) {
      await next();
      // --rotate no: the refresh grant keeps the refresh token and, as
      // Google's, its answer carries none (the client keeps its own)
      if (opt.rotate === 'no' && ctx.path === '/token'
          && ctx.oidc?.params?.grant_type === 'refresh_token'
          && ctx.status === 200 && ctx.body?.refresh_token) {
        delete ctx.body.refresh_token;
      }
      return;
    }
    ctx.set('cache-control', 'no-store');
    const [, uid, action] = m;
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
    const { prompt, params } = details;
    const client = await provider.Client.find(params.client_id);
    let result;

    if (!action && ctx.method === 'GET') {
      ctx.type = 'html';
      if (prompt.name === 'login') {
        ctx.body = loginForm(uid, '', params.login_hint);
      } else if (prompt.name === 'consent') {
        ctx.body = consentForm(uid, client, String(params.scope || '').split(' '), details.session.accountId);
      } else {
        ctx.throw(501, `prompt ${prompt.name} not implemented`);
      }
      return;
    }
    if (ctx.method !== 'POST') ctx.throw(405);
    const form = await readForm(ctx.req);
    if (action === 'abort') {
      result = { error: 'access_denied', error_description: 'the user refused access' };
    } else if (action === 'login' && prompt.name === 'login') {
      const accountId = checkPassword(form.get('login'), form.get('password'));
      if (!accountId) {
        ctx.type = 'html';
        ctx.status = 200;
        ctx.body = loginForm(uid, 'Wrong address or password.', form.get('login'));
        return;
      }
      result = { login: { accountId } };
    } else if (action === 'confirm' && prompt.name === 'consent') {
      const d = prompt.details;
      const grant = details.grantId ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [ind, sc] of Object.entries(d.missingResourceScopes || {})) {
        grant.addResourceScope(ind, sc.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    } else {
      ctx.throw(400, `cannot ${action} at the ${prompt.name} step`);
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(to);
  });

  server.on('request', provider.callback());
}

server.listen(issuerPort, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`https://127.0.0.1:${port}`, configuration);
  provider.proxy = false;
  start(provider);
  process.stdout.write(`ready ${port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
