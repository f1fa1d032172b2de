/**
 * The unit project's environment shuts every way out of the process: each attempt throws where
 * it is made, names the rule, and is recorded so that a library swallowing the error still
 * fails the test. Here each attempt is made on purpose and its record taken back.
 */
import * as childProcess from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import * as net from 'node:net';
import type { UnitGuard } from './unit-environment';

const guard = (globalThis as unknown as { __unitGuard: UnitGuard }).__unitGuard;

afterEach(() => {
  expect(guard.takeViolations()).toEqual([]);
});

/** Runs `attempt`, expecting it to be refused once, and takes the record back. */
async function refused(attempt: () => unknown, what: RegExp): Promise<Error> {
  let thrown: unknown;
  try {
    await attempt();
  } catch (error) {
    thrown = error;
  }
  const recorded = guard.takeViolations();
  expect(recorded).toHaveLength(1);
  const violation = recorded[0] as Error;
  expect(violation.name).toBe('UnitTestViolation');
  expect(violation.message).toMatch(what);
  expect(violation.message).toMatch(/Name the file \*\.int\.test\.ts/);
  return Object.assign(violation, { thrown });
}

it('points Firestore clients at a port nobody listens on', () => {
  expect(process.env.FIRESTORE_EMULATOR_HOST).toBe('127.0.0.1:9');
});

it.each([
  ['net', () => net.createServer().listen(0, '127.0.0.1')],
  ['http', () => createHttpServer().listen(0, '127.0.0.1')],
])('refuses a listening socket (%s)', async (_, listen) => {
  const violation = await refused(listen, /^a unit test opened a listening socket/);
  expect((violation as Error & { thrown: unknown }).thrown).toBe(violation);
});

it('refuses an outgoing connection, at the call that makes it', async () => {
  await refused(() => net.connect(9, '127.0.0.1'), /^a unit test opened a connection to 127\.0\.0\.1:9:/);
  await refused(() => net.connect({ host: '127.0.0.1', port: 443 }), /^a unit test opened a connection to 127\.0\.0\.1:443:/);
});

it('fails a test even when a library swallows the refusal (fetch rejects with its own error)', async () => {
  const violation = await refused(() => fetch('http://127.0.0.1:8788/'), /^a unit test opened a connection to 127\.0\.0\.1:8788/);
  const thrown = (violation as Error & { thrown: Error }).thrown;
  expect({ name: thrown.name, message: thrown.message, cause: thrown.cause }).toEqual({ name: 'TypeError', message: 'fetch failed', cause: violation });
});

it('counts a repeated refusal once, with how often', async () => {
  for (let i = 0; i < 3; i++) expect(() => net.connect(9, '127.0.0.1')).toThrow(/opened a connection/);
  const [violation] = guard.takeViolations();
  expect(violation?.message).toMatch(/^a unit test opened a connection to 127\.0\.0\.1:9 \(3 times\)/);
});

it.each([
  ['spawn', () => childProcess.spawn('java', ['-version'])],
  ['execFile', () => childProcess.execFile('java', ['-version'])],
  ['exec', () => childProcess.exec('java -version')],
  ['fork', () => childProcess.fork('-e')],
  ['spawnSync', () => childProcess.spawnSync('java', ['-version'])],
  ['execFileSync', () => childProcess.execFileSync('java', ['-version'])],
  ['execSync', () => childProcess.execSync('java -version')],
])('refuses a child process (%s)', async (_, start) => {
  await refused(start, /^a unit test started a child process/);
});
