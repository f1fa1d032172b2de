/**
 * A demo OIDC issuer for development mode and tests — NEVER for production (production
 * configuration refuses plain-HTTP loopback issuers, so a deployed broker cannot trust it).
 *
 * Serves, on 127.0.0.1:
 *   GET /.well-known/openid-configuration   OIDC discovery (issuer, jwks_uri)
 *   GET /jwks                               its public keys
 *   GET /token?sub=…&aud=…&<claim>=…         a fresh signed caller token (text/plain), so a
 *                                           person can try an exchange with curl
 * and, in code, `sign()` for tests, key rotation and an outage switch.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface DemoIssuerOptions {
  port?: number;
  /** Audience of tokens from GET /token when the query names none. */
  defaultAudience: string;
  /** Claims added to tokens from GET /token (e.g. repository, ref). */
  defaultClaims?: JWTPayload;
}

export interface SignOptions {
  /** Overrides/extra protected-header members. */
  header?: Record<string, unknown>;
  /** Lifetime in seconds when `exp` is not given (default 300). */
  ttlSeconds?: number;
}

export interface DemoIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  /** Current signing key (private): tests use it to forge tokens byte by byte. */
  readonly signingKey: () => { privateKey: CryptoKey; publicJwk: JWK; kid: string };
  /** Signs a token with `iss` and `iat`/`exp` filled in unless given. */
  sign(claims: JWTPayload, options?: SignOptions): Promise<string>;
  /** Starts a new key; the old one leaves the JWKS. */
  rotateKey(): Promise<void>;
  /** 'down': discovery and JWKS answer 503. */
  setAvailability(state: 'up' | 'down'): void;
  /** How many times the JWKS was served. */
  readonly jwksFetches: () => number;
  close(): Promise<void>;
}

interface KeyState { privateKey: CryptoKey; publicJwk: JWK; kid: string }

async function newKey(): Promise<KeyState> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  return { privateKey, kid, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export async function startDemoIssuer(options: DemoIssuerOptions): Promise<DemoIssuer> {
  let key = await newKey();
  let available = true;
  let jwksFetches = 0;
  let issuer = '';

  const sign = async (claims: JWTPayload, signOptions: SignOptions = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = { iss: issuer, iat: now, exp: now + (signOptions.ttlSeconds ?? 300), jti: randomUUID(), ...claims };
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...signOptions.header })
      .sign(key.privateKey);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', issuer);
    if (!available && url.pathname !== '/token') return send(res, 503, { error: 'unavailable' });
    if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return send(res, 200, {
          issuer,
          jwks_uri: `${issuer}/jwks`,
          id_token_signing_alg_values_supported: ['RS256'],
          response_types_supported: ['id_token'],
          subject_types_supported: ['public'],
        });
      case '/jwks':
        jwksFetches++;
        return send(res, 200, { keys: [key.publicJwk] });
      case '/token':
        return sendText(res, await sign(demoClaims(url, options)));
      default:
        return send(res, 404, { error: 'not found' });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { error: 'internal' }));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    signingKey: () => key,
    sign,
    rotateKey: async () => {
      key = await newKey();
    },
    setAvailability: (state) => {
      available = state === 'up';
    },
    jwksFetches: () => jwksFetches,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Claims of a GET /token token: defaults, then `sub`, `aud` and any other query parameter. */
function demoClaims(url: URL, options: DemoIssuerOptions): JWTPayload {
  const claims: Record<string, unknown> = { sub: 'demo-workload', aud: options.defaultAudience, ...options.defaultClaims };
  for (const [name, value] of url.searchParams) {
    if (!['iss', 'iat', 'exp', 'nbf', 'jti'].includes(name)) claims[name] = value;
  }
  return claims;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

function sendText(res: ServerResponse, text: string): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(text);
}
