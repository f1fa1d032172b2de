/**
 * Key sources against live loopback servers: discovery, explicit JWKS URLs, inline keys,
 * and every way an issuer's key host can misbehave.
 */
import { rejection } from '../helpers/rejection';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDemoIssuer, type DemoIssuer } from '../../dev/demo-issuer';
import { DEFAULTS } from '../../shared/config/defaults';
import type { AcceptedJwk } from '../../shared/identity/key-acceptance';
import { createKeySource, type KeySourceSpec } from '../../shared/identity/key-source';
import { verifyOidcToken } from '../../shared/identity/oidc-token';
import type { TrustedIssuer } from '../../shared/identity/trusted-issuer';

const DEV = { allowInsecureLoopback: true };
const AUD = 'https://broker.example.test';
let demo: DemoIssuer;

beforeAll(async () => {
  demo = await startDemoIssuer({ defaultAudience: AUD });
});
afterAll(() => demo.close());

function trusted(issuer: string, spec: KeySourceSpec, network = DEV): ReadonlyMap<string, TrustedIssuer> {
  return new Map([[issuer, {
    issuer,
    audiences: [AUD],
    authorizedParties: [AUD],
    algorithms: ['RS256'],
    clockToleranceSeconds: 30,
    maxTokenAgeSeconds: 3600,
    maxTokenValiditySeconds: 86400,
    aliases: [],
    browser: false,
    requireAuthTime: false,
    oneTime: false,
    keys: createKeySource(spec, { network, cooldownMs: 50, acceptance: { algorithms: ['RS256'] } }),
  }]]);
}


/** A loopback server answering every request with `handler`. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

it('verifies through OIDC discovery and returns a prototype-free Principal', async () => {
  const issuers = trusted(demo.issuer, { kind: 'discovery', issuer: demo.issuer });
  const principal = await verifyOidcToken(await demo.sign({ sub: 'workload', aud: AUD, __proto__claim: 1 }), issuers);
  expect(principal).toMatchObject({ kind: 'oidc', issuer: demo.issuer, subject: 'workload' });
  expect(Object.getPrototypeOf(principal.claims)).toBeNull();
  expect(Object.isFrozen(principal.claims)).toBe(true);
  expect(principal.credentialSha256).toMatch(/^[A-Za-z0-9_-]{43}$/);
});

it('keeps a signed "__proto__" claim an ordinary key', async () => {
  const issuers = trusted(demo.issuer, { kind: 'jwks_uri', jwksUri: demo.jwksUri });
  const token = await demo.sign(JSON.parse(`{"sub":"w","aud":"${AUD}","__proto__":{"admin":true}}`));
  const principal = await verifyOidcToken(token, issuers);
  expect((principal.claims as Record<string, unknown>).admin).toBeUndefined();
  expect(Object.keys(principal.claims)).toContain('__proto__');
});

it('verifies with inline keys without any fetch', async () => {
  const before = demo.jwksFetches();
  const issuers = trusted(demo.issuer, { kind: 'inline', keys: [demo.signingKey().publicJwk as AcceptedJwk] });
  await expect(verifyOidcToken(await demo.sign({ sub: 'w', aud: AUD }), issuers)).resolves.toMatchObject({ subject: 'w' });
  expect(demo.jwksFetches()).toBe(before);
});

it('picks up a rotated key once the cooldown allows a refetch', async () => {
  const issuer = await startDemoIssuer({ defaultAudience: AUD });
  try {
    const issuers = trusted(issuer.issuer, { kind: 'jwks_uri', jwksUri: issuer.jwksUri });
    await verifyOidcToken(await issuer.sign({ sub: 'w', aud: AUD }), issuers);
    await issuer.rotateKey();
    await new Promise((r) => setTimeout(r, 60));
    await expect(verifyOidcToken(await issuer.sign({ sub: 'w', aud: AUD }), issuers)).resolves.toMatchObject({ subject: 'w' });
    expect(issuer.jwksFetches()).toBe(2);
  } finally {
    await issuer.close();
  }
});

describe('key host failures → 503 temporarily_unavailable', () => {
  it('discovery host down, then back up after the cooldown', async () => {
    const issuer = await startDemoIssuer({ defaultAudience: AUD });
    try {
      const issuers = trusted(issuer.issuer, { kind: 'discovery', issuer: issuer.issuer });
      issuer.setAvailability('down');
      const err = await rejection(verifyOidcToken(await issuer.sign({ sub: 'w', aud: AUD }), issuers));
      expect({ code: err.code, reason: err.reason, retryAfter: err.retryAfterSeconds }).toEqual({
        code: 'temporarily_unavailable', reason: 'issuer_keys_unavailable', retryAfter: DEFAULTS.jwksRetryAfterSeconds,
      });
      issuer.setAvailability('up');
      await new Promise((r) => setTimeout(r, 60));
      await expect(verifyOidcToken(await issuer.sign({ sub: 'w', aud: AUD }), issuers)).resolves.toMatchObject({ subject: 'w' });
    } finally {
      await issuer.close();
    }
  });

  const misbehaving: Array<[string, (req: IncomingMessage, res: ServerResponse) => void]> = [
    ['a redirect (not followed)', (_req, res) => res.writeHead(302, { location: demo.jwksUri }).end()],
    ['a JWKS larger than the cap', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [], pad: 'x'.repeat(DEFAULTS.jwksMaxBytes) }))],
    ['a JWKS larger than the cap without content-length', (_req, res) => { res.writeHead(200); res.write('{"keys":[],"pad":"'); res.end(`${'x'.repeat(DEFAULTS.jwksMaxBytes)}"}`); }],
    ['garbage instead of JSON', (_req, res) => res.writeHead(200).end('<html>oops</html>')],
    ['HTTP 500', (_req, res) => res.writeHead(500).end()],
    ['a connection reset', (req) => req.socket.destroy()],
  ];

  it.each(misbehaving)('%s', async (_name, handler) => {
    const { url, server } = await serve(handler);
    try {
      const issuers = trusted(demo.issuer, { kind: 'jwks_uri', jwksUri: `${url}/jwks` });
      const err = await rejection(verifyOidcToken(await demo.sign({ sub: 'w', aud: AUD }), issuers));
      expect(err.code).toBe('temporarily_unavailable');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('a discovery document naming another issuer', async () => {
    const { url, server } = await serve((_req, res) => res.writeHead(200).end(JSON.stringify({ issuer: 'https://evil.example', jwks_uri: demo.jwksUri })));
    try {
      const token = await demo.sign({ sub: 'w', aud: AUD, iss: url });
      const err = await rejection(verifyOidcToken(token, trusted(url, { kind: 'discovery', issuer: url })));
      expect(err.code).toBe('temporarily_unavailable');
      expect(err.detail).toMatch(/different issuer/);
    } finally {
      server.close();
    }
  });

  it('an http JWKS URL under the production network policy is never fetched', async () => {
    const before = demo.jwksFetches();
    const issuers = trusted(demo.issuer, { kind: 'jwks_uri', jwksUri: demo.jwksUri }, { allowInsecureLoopback: false });
    const err = await rejection(verifyOidcToken(await demo.sign({ sub: 'w', aud: AUD }), issuers));
    expect(err.code).toBe('temporarily_unavailable');
    expect(demo.jwksFetches()).toBe(before);
  });
});

it('never fetches keys named by the token header (jku, x5u)', async () => {
  let hits = 0;
  const { url, server } = await serve((_req, res) => { hits++; res.writeHead(404).end(); });
  try {
    const issuers = trusted(demo.issuer, { kind: 'jwks_uri', jwksUri: demo.jwksUri });
    const token = await demo.sign({ sub: 'w', aud: AUD }, { header: { jku: `${url}/jwks`, x5u: `${url}/cert` } });
    await expect(verifyOidcToken(token, issuers)).resolves.toMatchObject({ subject: 'w' });
    expect(hits).toBe(0);
  } finally {
    server.close();
  }
});
