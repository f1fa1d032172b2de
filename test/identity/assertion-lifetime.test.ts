/**
 * Client assertions (RFC 7523) live up to an hour by default, as Google's own token endpoint
 * accepts and as client libraries sign them (Authlib, google-auth); a client may be limited
 * lower, and the `jti` stays single-use for the whole lifetime.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { verifyClientAssertion } from '../../shared/identity/client-assertion';
import { createMemoryReplayStore } from '../../shared/identity/replay-store';
import { compilePolicy } from '../../shared/policy/compile-policy';
import { parsePolicyText } from '../../shared/policy/parse-document';

const TOKEN_URL = 'https://broker.example.com/token';
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...key.publicKey.export({ format: 'jwk' }), kid: 'k1' };
const T0 = 1_800_000_000;

const policy = compilePolicy(parsePolicyText(JSON.stringify({
  version: 1,
  clients: [
    { id: 'hour-long', jwks: { keys: [jwk] }, algorithms: ['ES256'] },
    { id: 'short', jwks: { keys: [jwk] }, algorithms: ['ES256'], max_assertion_lifetime_seconds: 300 },
  ],
  rules: [{ id: 'r', clients: ['hour-long', 'short'], condition: 'true', grant: { service_account: 'sa@p-123456.iam.gserviceaccount.com', scopes: ['https://www.googleapis.com/auth/cloud-platform'] } }],
}), 'policy.json'), { source: 'policy.json', network: { allowInsecureLoopback: false } });

const sign = (client: string, lifetime: number, jti: string = randomUUID()) =>
  new SignJWT({ jti }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(client).setSubject(client).setAudience(TOKEN_URL)
    .setIssuedAt(T0).setExpirationTime(T0 + lifetime).sign(key.privateKey);

function verify(assertion: string, atSeconds: number, replay = createMemoryReplayStore({ now: () => atSeconds * 1000 })) {
  return verifyClientAssertion(assertion, {
    clients: policy.assertionClients, audiences: [TOKEN_URL], replay, errorCode: 'invalid_client', currentDate: new Date(atSeconds * 1000),
  });
}

it('accepts a 3600 s assertion by default (what Authlib and google-auth sign)', async () => {
  await expect(verify(await sign('hour-long', 3600), T0 + 10)).resolves.toMatchObject({ clientId: 'hour-long' });
});

it('refuses 3601 s', async () => {
  await expect(verify(await sign('hour-long', 3601), T0 + 10)).rejects.toMatchObject({ code: 'invalid_client', reason: 'assertion_lifetime_too_long' });
});

it('still enforces a client\'s own lower limit (300 s)', async () => {
  await expect(verify(await sign('short', 300), T0 + 10)).resolves.toMatchObject({ clientId: 'short' });
  await expect(verify(await sign('short', 301), T0 + 10)).rejects.toMatchObject({ reason: 'assertion_lifetime_too_long' });
});

it('keeps the jti single-use for the whole hour: a replay at minute 59 is refused', async () => {
  let now = T0 + 10;
  const replay = createMemoryReplayStore({ now: () => now * 1000 });
  const assertion = await sign('hour-long', 3600, 'once-only');
  await expect(verify(assertion, now, replay)).resolves.toMatchObject({ jti: 'once-only' });
  now = T0 + 59 * 60;
  await expect(verify(assertion, now, replay)).rejects.toMatchObject({ reason: 'assertion_replayed' });
});
