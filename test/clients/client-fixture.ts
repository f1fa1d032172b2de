/** A policy with registered clients of every kind, and the credentials that go with it. */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { generateApiKey, generateClientSecret, parseApiKey } from '../../shared/identity/credential-format';
import { hashSecret } from '../../shared/identity/secret-hash';
import { testPolicy } from '../http/policy-fixture';

export const APP_ORIGIN = 'https://app.example.com';
export const CLIENT_SA = 'reader@token-broker-dev.iam.gserviceaccount.com';

export interface ClientCredentialsSet {
  reporterSecret: string;
  reporterOldSecret: string;
  retiredSecret: string;
  limitedSecret: string;
  apiKey: string;
  internalKey: string;
  browserKey: string;
  expiredKey: string;
  signerKey: CryptoKey;
  otherKey: CryptoKey;
}

export async function clientPolicy(): Promise<{ text: (urls: { issuer: string; broker: string }) => string; creds: ClientCredentialsSet }> {
  const [reporterSecret, reporterOldSecret, retiredSecret, limitedSecret] = [generateClientSecret(), generateClientSecret(), generateClientSecret(), generateClientSecret()];
  const keys = [generateApiKey(), generateApiKey(), generateApiKey(), generateApiKey()];
  const signer = await generateKeyPair('ES256', { extractable: true });
  const other = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(signer.publicKey)), kid: 'signer-1' };
  const [h1, h2, h3, h4, k1, k2, k3, k4] = await Promise.all([
    hashSecret(reporterSecret), hashSecret(reporterOldSecret), hashSecret(retiredSecret), hashSecret(limitedSecret),
    ...keys.map((k) => hashSecret(parseApiKey(k.key)?.secret ?? '')),
  ]);
  const future = new Date(Date.now() + 86400_000).toISOString();
  const past = new Date(Date.now() - 60_000).toISOString();
  const text = (urls: { issuer: string; broker: string }) => `${testPolicy(urls)}
  - id: clients-read
    clients: [reporter, signer, bot, retired]
    condition: "true"
    grant:
      service_account: ${CLIENT_SA}
      scopes: [https://www.googleapis.com/auth/devstorage.read_only]
      max_lifetime_seconds: 600
    audit_claims: [client_id, auth_method]
  - id: limited
    clients: [limited]
    condition: "true"
    limits: { requests_per_minute: 3 }
    grant:
      service_account: ${CLIENT_SA}
      scopes: [https://www.googleapis.com/auth/devstorage.read_only]
clients:
  - id: reporter
    secrets:
      - { hash: "${h1}" }
      - { hash: "${h2}", expires: "${future}" }
  - id: retired
    secrets:
      - { hash: "${h3}", expires: "${past}" }
  - id: limited
    secrets: [{ hash: "${h4}" }]
  - id: signer
    jwks: { keys: [${JSON.stringify(publicJwk)}] }
    algorithms: [ES256]
  - id: bot
    api_keys:
      - { id: ${keys[0]?.id}, hash: "${k1}" }
      - { id: ${keys[1]?.id}, hash: "${k2}", allowed_ip_ranges: [10.0.0.0/8, "2001:db8::/32"] }
      - { id: ${keys[2]?.id}, hash: "${k3}", allowed_origins: ["${APP_ORIGIN}"] }
      - { id: ${keys[3]?.id}, hash: "${k4}", expires: "${past}" }
cors:
  allowed_origins: ["${APP_ORIGIN}"]
`;
  return {
    text,
    creds: {
      reporterSecret, reporterOldSecret, retiredSecret, limitedSecret,
      apiKey: keys[0]?.key ?? '', internalKey: keys[1]?.key ?? '', browserKey: keys[2]?.key ?? '', expiredKey: keys[3]?.key ?? '',
      signerKey: signer.privateKey, otherKey: other.privateKey,
    },
  };
}

/** An RFC 7523 assertion from `clientId`, for `audience`. */
export function assertion(key: CryptoKey, clientId: string, audience: string | string[], extra: { jti?: string; exp?: number; iat?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: extra.jti ?? randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: 'signer-1', typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setIssuedAt(extra.iat ?? now)
    .setExpirationTime(extra.exp ?? now + 120)
    .sign(key);
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
