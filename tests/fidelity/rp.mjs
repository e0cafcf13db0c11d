// An independent relying party: panva's openid-client v6 (OpenID Certified), not written here,
// driven against an OpenID provider (the simulated PSC) over mTLS with the test CA trusted.
//
// Steps: discovery (/.well-known/openid-configuration, and the PSC's wallet-openid-configuration
// compared with it), CIBA in poll mode, the ID token as the library validates it (signature
// checked against the JWKS), userinfo, RFC 7662 introspection with the proxy's own certificate,
// refresh, and RP-initiated logout through the URL the library builds.
//
// Prints one JSON object (tokens are never printed, only their SHA-256) and exits 0, or prints
// {"ok": false, "step": ..., "error": {name, message, code, cause, ...}} and exits 1.
//
// Parameters, each `--name value` or the environment variable in brackets:
//   --issuer (RP_ISSUER)            https://host:port/auth/realms/esante-wallet
//   --ca (RP_CA)                    PEM bundle of trust anchors for the server certificate
//   --client-id (RP_CLIENT_ID)      the LPS client id; --cert/--key (RP_CERT/RP_KEY) its PEM chain and key
//   --proxy-client-id (RP_PROXY_CLIENT_ID), --proxy-cert/--proxy-key (RP_PROXY_CERT/RP_PROXY_KEY)
//   --login-hint (RP_LOGIN_HINT), --binding-message (RP_BINDING_MESSAGE, default 42),
//   --channel (RP_CHANNEL, default MOBILE), --timeout (RP_TIMEOUT, seconds per request, default 10)

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual, parseArgs } from 'node:util';

import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';

const OPTIONS = {
  issuer: 'RP_ISSUER',
  ca: 'RP_CA',
  'client-id': 'RP_CLIENT_ID',
  cert: 'RP_CERT',
  key: 'RP_KEY',
  'proxy-client-id': 'RP_PROXY_CLIENT_ID',
  'proxy-cert': 'RP_PROXY_CERT',
  'proxy-key': 'RP_PROXY_KEY',
  'login-hint': 'RP_LOGIN_HINT',
  'binding-message': 'RP_BINDING_MESSAGE',
  channel: 'RP_CHANNEL',
  timeout: 'RP_TIMEOUT',
};
const DEFAULTS = { 'binding-message': '42', channel: 'MOBILE', timeout: '10' };
const SECRET_KEYS = new Set(['access_token', 'refresh_token', 'id_token', 'token', 'id_token_hint']);

const result = { ok: false, versions: versions(), requests: [] };
let step = 'arguments';

function versions() {
  const version = (name) =>
    JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
  return {
    node: process.versions.node,
    'openid-client': version('openid-client'),
    oauth4webapi: version('oauth4webapi'),
    jose: version('jose'),
    undici: version('undici'),
  };
}

function parameters() {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(OPTIONS).map((name) => [name, { type: 'string' }])),
    strict: true,
  });
  const out = {};
  for (const [name, env] of Object.entries(OPTIONS)) {
    const value = values[name] ?? process.env[env] ?? DEFAULTS[name];
    if (value === undefined || value === '') {
      throw new TypeError(`missing parameter --${name} (or ${env})`);
    }
    out[name] = value;
  }
  return out;
}

const sha256 = (value) => createHash('sha256').update(value).digest('hex');

/** Replace anything secret-looking (tokens, hints) by its length and hash, recursively. */
function redact(value, depth = 0) {
  if (depth > 8 || value === null || typeof value !== 'object') {
    return value;
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return `<${value.byteLength} bytes>`;
  }
  if (Array.isArray(value)) {
    return value.map((v) => redact(v, depth + 1));
  }
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEYS.has(k) && typeof v === 'string' ? `<redacted ${v.length} chars>` : redact(v, depth + 1);
  }
  return out;
}

/** undici's fetch through an Agent presenting `cert`/`key` and trusting only `ca`; every request logged. */
function mtlsFetch(label, { ca, cert, key }) {
  const dispatcher = new Agent({ connect: { ca, cert, key, rejectUnauthorized: true } });
  const fetch = async (url, options) => {
    const started = Date.now();
    const target = new URL(url);
    const entry = { client: label, method: options?.method ?? 'GET', path: target.pathname };
    result.requests.push(entry);
    try {
      const response = await undiciFetch(url, { ...options, dispatcher });
      entry.status = response.status;
      entry.content_type = response.headers.get('content-type');
      return response;
    } catch (error) {
      entry.error = `${error.name}: ${error.message}${error.cause ? ` (${error.cause.code ?? error.cause.message})` : ''}`;
      throw error;
    } finally {
      entry.ms = Date.now() - started;
    }
  };
  return { fetch, dispatcher };
}

async function timed(name, fn) {
  step = name;
  const started = Date.now();
  const value = await fn();
  result[name] = { ...(result[name] ?? {}), ...value, ms: Date.now() - started };
  return value;
}

function tokenSummary(tokens) {
  const claims = tokens.claims();
  return {
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
    fields: Object.keys(tokens).sort(),
    access_token_sha256: sha256(tokens.access_token),
    refresh_token_sha256: tokens.refresh_token ? sha256(tokens.refresh_token) : null,
    id_token_claims: claims ?? null,
  };
}

async function main() {
  const p = parameters();
  const ca = readFileSync(p.ca, 'utf8');
  const lps = mtlsFetch('lps', { ca, cert: readFileSync(p.cert, 'utf8'), key: readFileSync(p.key, 'utf8') });
  const proxy = mtlsFetch('proxy', {
    ca,
    cert: readFileSync(p['proxy-cert'], 'utf8'),
    key: readFileSync(p['proxy-key'], 'utf8'),
  });
  const timeout = Number(p.timeout);
  // RFC 8705 §5: a client authenticating with mTLS uses the mtls_endpoint_aliases when published.
  const metadata = { use_mtls_endpoint_aliases: true };
  const options = (f) => ({
    [client.customFetch]: f.fetch,
    timeout,
    // ID tokens from the token endpoint get their signature checked against the JWKS too.
    execute: [client.enableNonRepudiationChecks],
  });

  try {
    // -- discovery: the standard document, through the library, over mTLS --------------------------
    let config;
    let proxyConfig;
    await timed('discovery', async () => {
      config = await client.discovery(
        new URL(p.issuer),
        p['client-id'],
        metadata,
        client.TlsClientAuth(),
        options(lps),
      );
      const as = config.serverMetadata();
      const walletUrl = `${p.issuer}/.well-known/wallet-openid-configuration`;
      const wallet = await lps.fetch(walletUrl, { method: 'GET', headers: { accept: 'application/json' } });
      if (wallet.status !== 200) {
        throw new Error(`${walletUrl} answered HTTP ${wallet.status}`);
      }
      const walletDoc = await wallet.json();
      const standardDoc = JSON.parse(JSON.stringify(as));
      if (!isDeepStrictEqual(walletDoc, standardDoc)) {
        throw new Error('wallet-openid-configuration differs from openid-configuration');
      }
      proxyConfig = await client.discovery(
        new URL(p.issuer),
        p['proxy-client-id'],
        metadata,
        client.TlsClientAuth(),
        options(proxy),
      );
      return {
        issuer: as.issuer,
        wallet_document_equal: true,
        endpoints: Object.fromEntries(
          Object.entries(as).filter(([k]) => k.endsWith('_endpoint') || k === 'jwks_uri'),
        ),
        backchannel_token_delivery_modes_supported: as.backchannel_token_delivery_modes_supported,
        token_endpoint_auth_methods_supported: as.token_endpoint_auth_methods_supported,
        grant_types_supported: as.grant_types_supported,
        mtls_endpoint_aliases: as.mtls_endpoint_aliases ?? null,
        tls_client_certificate_bound_access_tokens: as.tls_client_certificate_bound_access_tokens ?? null,
        client: { lps: config.clientMetadata().client_id, proxy: proxyConfig.clientMetadata().client_id },
      };
    });

    // -- CIBA: backchannel authentication request, then polling at the announced interval ----------
    let auth;
    await timed('ciba', async () => {
      auth = await client.initiateBackchannelAuthentication(config, {
        scope: 'openid scope_all',
        acr_values: 'eidas1',
        login_hint: p['login-hint'],
        binding_message: p['binding-message'],
        channel: p.channel,
      });
      return { auth_req_id: auth.auth_req_id, expires_in: auth.expires_in, interval: auth.interval };
    });

    let tokens;
    await timed('token', async () => {
      tokens = await client.pollBackchannelAuthenticationGrant(config, auth, undefined, {
        signal: AbortSignal.timeout(30_000),
      });
      const polls = result.requests.filter((r) => r.client === 'lps' && r.path.endsWith('/token')).length;
      return { polls, ...tokenSummary(tokens) };
    });
    const claims = tokens.claims();

    // -- userinfo, the subject checked against the ID token's -------------------------------------
    await timed('userinfo', async () => {
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      return { claims: info };
    });

    // -- introspection by the proxy, with its own certificate -------------------------------------
    await timed('introspection', async () => {
      const answer = await client.tokenIntrospection(proxyConfig, tokens.access_token);
      return { response: redact(answer) };
    });

    // -- refresh, then userinfo with the new access token -----------------------------------------
    let refreshed;
    await timed('refresh', async () => {
      refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      const info = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
      return {
        ...tokenSummary(refreshed),
        new_access_token: refreshed.access_token !== tokens.access_token,
        new_refresh_token: refreshed.refresh_token !== tokens.refresh_token,
        userinfo_subject: info.sub,
      };
    });

    // -- RP-initiated logout through the URL the library builds; the token is then inactive --------
    await timed('end_session', async () => {
      const url = client.buildEndSessionUrl(config, { id_token_hint: (refreshed.id_token ?? tokens.id_token) });
      const response = await lps.fetch(url.href, { method: 'GET', redirect: 'manual' });
      await response.arrayBuffer();
      const after = await client.tokenIntrospection(proxyConfig, refreshed.access_token);
      return {
        endpoint: `${url.origin}${url.pathname}`,
        parameters: [...url.searchParams.keys()].sort(),
        status: response.status,
        introspection_after_logout: redact(after),
      };
    });

    step = 'done';
    result.ok = true;
  } finally {
    await Promise.allSettled([lps.dispatcher.close(), proxy.dispatcher.close()]);
  }
}

function describe(error, depth = 0) {
  if (!(error instanceof Error)) {
    return redact(error);
  }
  const out = { name: error.name, message: error.message };
  for (const k of ['code', 'error', 'error_description', 'status']) {
    if (error[k] !== undefined) {
      out[k] = error[k];
    }
  }
  if (error.cause !== undefined) {
    out.cause = depth < 4 ? describe(error.cause, depth + 1) : String(error.cause);
  }
  return out;
}

try {
  await main();
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} catch (error) {
  result.ok = false;
  result.step = step;
  result.error = describe(error);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exitCode = 1;
}
