/**
 * Drop-in compatibility: a Google `external_account` credential file whose `token_url` is
 * the broker, loaded by google-auth-library's own GoogleAuth — no broker code on the client.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleAuth } from 'google-auth-library';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { CLOUD_PLATFORM, DEPLOYER, READER, testPolicy } from '../http/policy-fixture';

let stack: DevStack;
let dir: string;

beforeAll(async () => {
  stack = await startDevStack({ policyText: testPolicy });
  await stack.broker;
  dir = await mkdtemp(join(tmpdir(), 'external-account-'));
});
afterAll(() => stack.close());

/** Writes the caller's OIDC token where the credential file's `credential_source` reads it. */
async function credentialFile(audience: string, claims: Record<string, unknown>): Promise<string> {
  const tokenFile = join(dir, `token-${Math.random().toString(36).slice(2)}.jwt`);
  await writeFile(tokenFile, await stack.issuer.sign({ sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ...claims }));
  const file = join(dir, `credentials-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify({
    type: 'external_account',
    audience,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: `${stack.url}/v1/token`,
    credential_source: { file: tokenFile },
  }));
  return file;
}

it('GoogleAuth obtains a broker-minted token from an external_account file', async () => {
  const auth = new GoogleAuth({ keyFile: await credentialFile(stack.url, { ref: 'refs/heads/main' }), scopes: [CLOUD_PLATFORM] });
  const client = await auth.getClient();
  const { token } = await client.getAccessToken();
  expect(token).toBeTruthy();
  const issued = stack.google.lookup(String(token));
  expect(issued).toMatchObject({ kind: 'impersonated', serviceAccount: DEPLOYER, scopes: [CLOUD_PLATFORM] });

  const sent = stack.google.requests.filter((r) => r.path.endsWith(':generateAccessToken')).at(-1);
  expect(JSON.parse(sent?.body ?? '{}').scope).toEqual([CLOUD_PLATFORM]);
});

it('the credential file audience can name a rule', async () => {
  const auth = new GoogleAuth({ keyFile: await credentialFile('any-branch', { ref: 'refs/heads/main' }), scopes: ['https://www.googleapis.com/auth/devstorage.read_only'] });
  const { token } = await (await auth.getClient()).getAccessToken();
  expect(stack.google.lookup(String(token))?.serviceAccount).toBe(READER);
});

it('a refused exchange surfaces the broker\'s OAuth error through the client library', async () => {
  const auth = new GoogleAuth({ keyFile: await credentialFile(stack.url, { repository: 'acme/other' }), scopes: [CLOUD_PLATFORM] });
  const client = await auth.getClient();
  await expect(client.getAccessToken()).rejects.toThrow(/access_denied/);
});
