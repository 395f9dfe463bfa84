// A strict OpenID Connect relying party (panva's openid-client v6) against Tollgate's own
// OpenID Provider, one step per invocation so a test can drive the browser part in between.
// Every command prints one JSON object on stdout; a failed check prints {"error": ...} and exits 1
// (3 for `verify` when the token's signature cannot be verified with the published keys).
//
//   node rp_check.mjs start  --issuer I --client-id C --client-secret S --redirect-uri R
//        [--scope "openid profile email"] [--alg RS256|ES256] [--auth client_secret_basic|client_secret_post]
//     -> {authorization_url, state, nonce, code_verifier, metadata}
//   node rp_check.mjs finish <same> --callback-url U --state S --nonce N --code-verifier V
//     -> {id_token, claims, userinfo, refresh_token, refreshed: {id_token, claims}}
//        (authorization response iss/state checks, PKCE, the ID token's signature (non-repudiation
//        checks on), alg, iss, aud, exp, iat, nonce; userinfo's sub; the refreshed ID token's
//        iss, sub, aud and auth_time equal the first one's, OpenID Connect Core 12.2)
//   node rp_check.mjs verify <same> --id-token T
//     -> {valid: true, kid, alg} against the JWKS published now (fetched fresh)
import { parseArgs } from 'node:util';

import * as jose from 'jose';
import * as client from 'openid-client';

const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    scope: { type: 'string', default: 'openid profile email' },
    alg: { type: 'string' },
    auth: { type: 'string', default: 'client_secret_basic' },
    'callback-url': { type: 'string' },
    state: { type: 'string' },
    nonce: { type: 'string' },
    'code-verifier': { type: 'string' },
    'id-token': { type: 'string' },
  },
});

function fail(error, exitCode = 1) {
  const out = {
    error: error?.name ?? 'Error',
    code: error?.code,
    message: error?.message ?? String(error),
    cause: error?.cause instanceof Error ? error.cause.message : error?.cause,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(exitCode);
}

function need(name) {
  if (!args[name]) fail(new Error(`--${name} is required`));
  return args[name];
}

async function configuration() {
  const metadata = {};
  if (args.alg) metadata.id_token_signed_response_alg = args.alg;
  const auth = args.auth === 'client_secret_post'
    ? client.ClientSecretPost(need('client-secret'))
    : client.ClientSecretBasic(need('client-secret'));
  // http:// only because the provider under test listens on loopback; every other check is on.
  return client.discovery(new URL(need('issuer')), need('client-id'), metadata, auth, {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
}

async function start() {
  const config = await configuration();
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: need('redirect-uri'),
    scope: args.scope,
    response_type: 'code',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return {
    authorization_url: url.href,
    state,
    nonce,
    code_verifier: codeVerifier,
    metadata: config.serverMetadata(),
  };
}

async function finish() {
  const config = await configuration();
  const tokens = await client.authorizationCodeGrant(config, new URL(need('callback-url')), {
    pkceCodeVerifier: need('code-verifier'),
    expectedState: need('state'),
    expectedNonce: need('nonce'),
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const out = {
    id_token: tokens.id_token,
    id_token_header: jose.decodeProtectedHeader(tokens.id_token),
    claims,
    userinfo,
    token_type: tokens.token_type,
    scope: tokens.scope,
    refresh_token: tokens.refresh_token ?? null,
    refreshed: null,
  };
  if (tokens.refresh_token) {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    const again = refreshed.claims();
    if (!again) throw new Error('the refresh response carries no ID token');
    for (const name of ['iss', 'sub', 'aud', 'auth_time']) {
      if (JSON.stringify(again[name]) !== JSON.stringify(claims[name])) {
        throw new Error(`the refreshed ID token's ${name} differs: ${again[name]} != ${claims[name]}`);
      }
    }
    if (again.nonce !== undefined && again.nonce !== claims.nonce) {
      throw new Error('the refreshed ID token carries another nonce');
    }
    await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    out.refreshed = {
      id_token: refreshed.id_token,
      id_token_header: jose.decodeProtectedHeader(refreshed.id_token),
      claims: again,
      refresh_token: refreshed.refresh_token ?? null,
    };
  }
  return out;
}

async function verify() {
  const config = await configuration();
  const metadata = config.serverMetadata();
  const jwks = await (await fetch(metadata.jwks_uri, { cache: 'no-store' })).json();
  const token = need('id-token');
  const header = jose.decodeProtectedHeader(token);
  try {
    const { protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
      issuer: metadata.issuer,
      audience: need('client-id'),
      algorithms: metadata.id_token_signing_alg_values_supported,
    });
    return { valid: true, kid: protectedHeader.kid, alg: protectedHeader.alg, jwks_kids: jwks.keys.map((k) => k.kid) };
  } catch (error) {
    if (error.code === 'ERR_JWKS_NO_MATCHING_KEY' || error.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') {
      process.stdout.write(`${JSON.stringify({
        valid: false, code: error.code, kid: header.kid, jwks_kids: jwks.keys.map((k) => k.kid),
      })}\n`);
      process.exit(3);
    }
    throw error;
  }
}

const commands = { start, finish, verify };
const command = commands[positionals[0]];
if (!command) fail(new Error(`usage: rp_check.mjs ${Object.keys(commands).join('|')} [options]`));
try {
  process.stdout.write(`${JSON.stringify(await command())}\n`);
} catch (error) {
  fail(error);
}
