/** A fresh RFC 7523 assertion for one request: a client assertion (private_key_jwt) or a jwt-bearer grant's. */
import { importPKCS8, SignJWT, type KeyInput } from 'jose';
import { ASSERTION_LIFETIME_SECONDS } from './defaults';
import type { AssertionSigner } from './options';

export async function signAssertion(credential: AssertionSigner, audience: string, nowMs: number): Promise<string> {
  const key = await signingKey(credential);
  const now = Math.floor(nowMs / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: credential.algorithm, typ: 'JWT', ...(credential.keyId ? { kid: credential.keyId } : {}) })
    .setIssuer(credential.clientId)
    .setSubject(credential.clientId)
    .setAudience(audience) // one value: the broker refuses a list
    .setJti(randomId()) // single use: a new one for every request, retries included
    .setIssuedAt(now)
    .setExpirationTime(now + (credential.assertionLifetimeSeconds ?? ASSERTION_LIFETIME_SECONDS))
    .sign(key);
}

const imported = new WeakMap<AssertionSigner, Promise<KeyInput>>();

/** PEM text is imported once per credential object; other keys are used as given. */
function signingKey(credential: AssertionSigner): Promise<KeyInput> | KeyInput {
  if (typeof credential.privateKey !== 'string') return credential.privateKey;
  let key = imported.get(credential);
  if (!key) {
    key = importPKCS8(credential.privateKey, credential.algorithm);
    imported.set(credential, key);
  }
  return key;
}

/** 128 random bits, hex: WebCrypto's generator, present in browsers and Node. */
function randomId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
