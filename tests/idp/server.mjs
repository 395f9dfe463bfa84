// A real, independent OpenID provider for Tollgate's test suite (panva's oidc-provider).
//
//   node tests/idp/server.mjs --port 40123 --state /tmp/idp-state.json
//
// Issuer: http://127.0.0.1:<port>. Listens on loopback only. The state file (JSON) holds the
// clients and users and is re-read on every lookup, so a test can add or change a user or a client
// while the provider runs (write the file atomically: temp file + rename):
//
//   {"clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."],
//                 "token_endpoint_auth_method": "client_secret_basic"}],
//    "users": [{"sub": "...", "login": "...", "password": "...", "email": "...",
//               "email_verified": true, "given_name": "...", "family_name": "..."}],
//    "claims_in_id_token": true}
//
// The interaction pages are deliberately plain HTML a person (or `requests`) can drive:
//   GET  /interaction/<uid>          login form (login, password; "Sign in" or "Deny") or consent form
//   POST /interaction/<uid>/login    login=...&password=...      (wrong password: form again, 401)
//   POST /interaction/<uid>/confirm  grants the requested scopes and claims
//   POST /interaction/<uid>/abort    the RP receives error=access_denied
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    state: { type: 'string' },
  },
});
if (!args.port || !args.state) {
  console.error('usage: node server.mjs --port <port> --state <state.json>');
  process.exit(2);
}
const port = Number(args.port);
const issuer = `http://${args.host}:${port}`;

function readState() {
  const state = JSON.parse(readFileSync(args.state, 'utf8'));
  return { clients: state.clients ?? [], users: state.users ?? [], ...state };
}

function findUser({ sub, login }) {
  return readState().users.find((user) => (sub !== undefined
    ? user.sub === sub
    : (user.login ?? user.email) === login));
}

function sameSecret(given, expected) {
  const a = Buffer.from(String(given));
  const b = Buffer.from(String(expected));
  return a.length === b.length && timingSafeEqual(a, b);
}

// Clients come from the state file on every lookup (oidc-provider caches a client by the hash of
// its metadata, so a changed entry is re-validated); everything else lives in memory.
class Adapter extends MemoryAdapter {
  constructor(name) {
    super(name);
    this.modelName = name;
  }

  async find(id) {
    if (this.modelName !== 'Client') return super.find(id);
    const client = readState().clients.find((c) => c.client_id === id);
    if (!client) return undefined;
    return {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...client,
    };
  }
}

const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

const provider = new Provider(issuer, {
  adapter: Adapter,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  // Like most public providers (Google, Entra ID), put the scope's claims into the ID token too;
  // "claims_in_id_token": false in the state file leaves them to userinfo (OIDC Core 5.4).
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  async findAccount(_ctx, sub) {
    const user = findUser({ sub });
    if (!user) return undefined;
    return {
      accountId: user.sub,
      async claims(use) {
        const claims = {
          sub: user.sub,
          email: user.email,
          email_verified: user.email_verified ?? true,
          given_name: user.given_name,
          family_name: user.family_name,
          name: [user.given_name, user.family_name].filter(Boolean).join(' ') || undefined,
        };
        if (use === 'id_token' && readState().claims_in_id_token === false) {
          return { sub: user.sub };
        }
        return claims;
      },
    };
  },
  interactions: {
    url(_ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<p id="error">${escape(out.error)}: ${escape(out.error_description ?? '')}</p>`);
  },
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1>${body}</body></html>`;
}

function loginPage(uid, clientId, message) {
  return page('Sign in to the test provider', `
<p>Signing in to <span id="client">${escape(clientId)}</span></p>
${message ? `<p id="message" role="alert">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login" id="login">
  <label>Login <input name="login" autocomplete="username" autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit" name="action" value="login">Sign in</button>
</form>
<form method="post" action="/interaction/${uid}/abort" id="deny">
  <button type="submit" name="action" value="deny">Deny</button>
</form>`);
}

function consentPage(uid, clientId, scopes) {
  return page('Allow access', `
<p><span id="client">${escape(clientId)}</span> asks for: <span id="scopes">${escape(scopes.join(' '))}</span></p>
<form method="post" action="/interaction/${uid}/confirm" id="consent">
  <button type="submit" name="action" value="allow">Allow</button>
</form>
<form method="post" action="/interaction/${uid}/abort" id="deny">
  <button type="submit" name="action" value="deny">Deny</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p id="error">interaction mismatch</p>'));
    return;
  }
  const { prompt, params } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      send(res, 200, loginPage(uid, params.client_id));
    } else {
      const scopes = [...(prompt.details.missingOIDCScope ?? [])];
      send(res, 200, consentPage(uid, params.client_id, scopes));
    }
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, page('Error', '<p id="error">method not allowed</p>'));
    return;
  }
  const form = await readForm(req);
  if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'login' && prompt.name === 'login') {
    const user = findUser({ login: form.get('login') ?? '' });
    if (!user || !sameSecret(form.get('password') ?? '', user.password)) {
      send(res, 401, loginPage(uid, params.client_id, 'Invalid login or password.'));
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: user.sub, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    const { grantId: existing, session } = details;
    const grant = existing
      ? await provider.Grant.find(existing)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  send(res, 400, page('Error', `<p id="error">unexpected ${escape(action)} during ${escape(prompt.name)}</p>`));
}

const providerCallback = provider.callback();
const server = http.createServer(async (req, res) => {
  const started = Date.now();
  res.on('finish', () => {
    console.log(`${new Date().toISOString()} ${req.method} ${req.url.split('?')[0]} ${res.statusCode} ${Date.now() - started}ms`);
  });
  const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?\/?(?:\?.*)?$/.exec(req.url);
  if (!match) {
    providerCallback(req, res);
    return;
  }
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) {
      send(res, 400, page('Error', `<p id="error">${escape(err.name)}: ${escape(err.message)}</p>`));
    }
  }
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.on('grant.error', (_ctx, err) => console.error('grant.error', err.name, err.message, err.error_description ?? ''));

server.listen(port, args.host, () => {
  console.log(`test OpenID provider listening, issuer ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
