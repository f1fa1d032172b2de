/**
 * One decision for "is this a client id or an issuer URL": the policy schema, the admin CLI and
 * assertion verification all use `isValidClientId`, and the schema's pattern accepts exactly
 * what it accepts.
 */
import fc from 'fast-check';
import { isValidClientId } from '../../shared/identity/client-id';
import { ClientSchema } from '../../shared/policy/schema';

const SECRET_HASH = '$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const schemaAccepts = (id: string) => ClientSchema.safeParse({ id, secrets: [{ hash: SECRET_HASH }] }).success;

it.each([
  ['ci-deployer', true], ['svc.remote:ec', true], ['A_b-9.x:y', true], ['c'.repeat(128), true],
  ['http-gateway', true], ['httpbin', true], ['HTTPclient', true], ['https-proxy', true], ['http.service', true],
  ['', false], ['c'.repeat(129), false], ['https://issuer.example.test', false], ['http:foo', false], ['https:foo', false],
  ['HTTP:foo', false], ['Https:x', false], ['with space', false], ['slash/y', false], ['nul\u0000x', false], ['é', false],
])('%j is a client id: %s (schema and verifier agree)', (id, valid) => {
  expect(isValidClientId(id)).toBe(valid);
  expect(schemaAccepts(id)).toBe(valid);
});

it('refuses what is not a string', () => {
  for (const value of [0, 1, -1, true, false, null, [], {}, undefined]) expect(isValidClientId(value)).toBe(false);
});

it('the schema and the verifier agree on every string (property)', () => {
  const alphabet = fc.constantFrom(...'hHtTpPsS:/.-_ab1é '.split(''));
  fc.assert(fc.property(fc.string({ unit: alphabet, maxLength: 12 }), (id) => isValidClientId(id) === schemaAccepts(id)), { numRuns: 3000 });
});
