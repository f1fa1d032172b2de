/**
 * Drop-in compatibility: a Google `external_account` credential file whose `token_url` is
 * the broker, loaded by google-auth-library's own GoogleAuth — no broker code on the client.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleAuth } from 'google-auth-library';
import { startDevStack, type DevStack } from '../../dev/dev-stack';
import { sha256Fingerprint } from '../../shared/fingerprint';
import { LineCapture } from '../helpers/capture';
import { CLOUD_PLATFORM, DEPLOYER, READER, testPolicy } from '../http/policy-fixture';

let stack: DevStack;
let dir: string;
const lines = new LineCapture();
const lastExchange = () => lines.entries().filter((e) => e.event === 'token_exchange').at(-1) ?? {};

beforeAll(async () => {
  stack = await startDevStack({ policyText: testPolicy, auditTransport: lines });
  await stack.broker;
  dir = await mkdtemp(join(tmpdir(), 'external-account-'));
});
afterAll(() => stack.close());

const uniqueName = (prefix: string, ext: string) => join(dir, `${prefix}-${Math.random().toString(36).slice(2)}.${ext}`);
const callerToken = (claims: Record<string, unknown>) => stack.issuer.sign({ sub: 'repo:acme/app:ref:refs/heads/main', aud: stack.url, repository: 'acme/app', ...claims });

/** An `external_account` file that reads the caller's token from `tokenFile` and posts it to `tokenUrl`. */
async function externalAccountFile(audience: string, tokenFile: string, tokenUrl = `${stack.url}/v1/token`): Promise<string> {
  const file = uniqueName('credentials', 'json');
  await writeFile(file, JSON.stringify({
    type: 'external_account',
    audience,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: tokenUrl,
    credential_source: { file: tokenFile },
  }));
  return file;
}

/** Writes the caller's OIDC token where the credential file's `credential_source` reads it. */
async function credentialFile(audience: string, claims: Record<string, unknown>): Promise<string> {
  const tokenFile = uniqueName('token', 'jwt');
  await writeFile(tokenFile, await callerToken(claims));
  return externalAccountFile(audience, tokenFile);
}

/** A loopback forwarder to the broker that keeps each request body exactly as the client sent it. */
async function startRecorder(target: string): Promise<{ url: string; bodies: string[]; close: () => Promise<void> }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(body.toString('latin1'));
      void fetch(`${target}${req.url ?? '/'}`, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? '' }, body })
        .then(async (answer) => {
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, bodies, close: () => new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }) };
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

it('a token file that ends in a newline: google-auth-library sends the newline, the broker drops it', async () => {
  const recorder = await startRecorder(stack.url);
  try {
    const token = await callerToken({ ref: 'refs/heads/main' });
    const tokenFile = uniqueName('token', 'jwt');
    await writeFile(tokenFile, `${token}\n`); // as `echo "$TOKEN" > file` writes it
    const auth = new GoogleAuth({ keyFile: await externalAccountFile(stack.url, tokenFile, `${recorder.url}/v1/token`), scopes: [CLOUD_PLATFORM] });
    const { token: accessToken } = await (await auth.getClient()).getAccessToken();

    // The library reads the file as it is: the newline reached the broker.
    expect(recorder.bodies).toHaveLength(1);
    expect(new URLSearchParams(recorder.bodies[0]).get('subject_token')).toBe(`${token}\n`);
    expect(stack.google.lookup(String(accessToken))).toMatchObject({ kind: 'impersonated', serviceAccount: DEPLOYER });
    // One token, one fingerprint: the audit entry holds the trimmed token's.
    expect(lastExchange()).toMatchObject({ outcome: 'issued', subjectTokenSha256: sha256Fingerprint(token) });
  } finally {
    await recorder.close();
  }
});
