/**
 * `npm start` as a new user runs it: the process starts, prints a curl command, and that
 * command, pasted into a shell, performs a real exchange that returns an access token.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(__dirname, '..', '..');
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

function startBroker(env: NodeJS.ProcessEnv): { output: () => string; ready: Promise<string> } {
  let output = '';
  child = spawn(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'dev', 'start.ts')], {
    cwd: root,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ctrl-C stops it.')) resolve(output);
    };
    child?.stdout?.on('data', onData);
    child?.stderr?.on('data', onData);
    child?.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  return { output: () => output, ready };
}

it('prints a copy-paste curl command that returns an access token', async () => {
  const { ready } = startBroker({});
  const banner = await ready;
  const command = banner.slice(banner.indexOf('curl -s'), banner.indexOf('\n\nCtrl-C'));
  expect(command).toMatch(/^curl -s http:\/\/127\.0\.0\.1:\d+\/token/);
  const { stdout } = await promisify(execFile)('bash', ['-c', command]);
  const body = JSON.parse(stdout) as Record<string, unknown>;
  expect(body).toMatchObject({ token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
  expect(String(body.access_token)).toMatch(/^ya29\./);
  expect(Number(body.expires_in)).toBeGreaterThan(800);
}, 60_000);

it('refuses to start on a policy file that does not load, naming the file', async () => {
  const { ready } = startBroker({ BROKER_POLICY_FILE: '/nonexistent/policy.yaml' });
  await expect(ready).rejects.toThrow(/failed to start: \/nonexistent\/policy\.yaml: \(file\): cannot read/);
}, 60_000);
