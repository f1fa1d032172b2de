/**
 * Starts and stops the real Cloud Firestore emulator (the Java one shipped with the Google
 * Cloud CLI) on 127.0.0.1, for tests, benchmarks and `.ci/run`. It is run directly with
 * `java` rather than through its shell wrapper, so stopping it stops the JVM too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

const DEFAULT_JARS = [
  '/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar',
  '/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar',
  '/opt/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar',
];
const MAIN_CLASS = 'com.google.cloud.datastore.emulator.firestore.CloudFirestore';

export interface FirestoreEmulator {
  /** host:port, the value for FIRESTORE_EMULATOR_HOST. */
  readonly host: string;
  /** Deletes every document of a project's default database. */
  reset(projectId: string): Promise<void>;
  stop(): Promise<void>;
}

/** Where the emulator jar is, or an explanation of why it cannot be found. */
export function findEmulatorJar(): { jar: string } | { missing: string } {
  const candidates = process.env.FIRESTORE_EMULATOR_JAR ? [process.env.FIRESTORE_EMULATOR_JAR] : DEFAULT_JARS;
  const jar = candidates.find((path) => existsSync(path));
  if (jar) return { jar };
  return {
    missing:
      `Cloud Firestore emulator not found (looked in ${candidates.join(', ')}). Install the Google Cloud CLI ` +
      'component "cloud-firestore-emulator" (Java 17+ required) or set FIRESTORE_EMULATOR_JAR, ' +
      'or point FIRESTORE_EMULATOR_HOST at a running emulator.',
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startFirestoreEmulator(options: { port?: number; readyTimeoutMs?: number } = {}): Promise<FirestoreEmulator> {
  const found = findEmulatorJar();
  if ('missing' in found) throw new Error(found.missing);
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    process.env.JAVA ?? 'java',
    ['-Duser.language=en', '-cp', found.jar, MAIN_CLASS, 'start', '--host=127.0.0.1', `--port=${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: false },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  while (!(await isReady(host))) {
    if (child.exitCode !== null) throw new Error(`Firestore emulator exited (${child.exitCode}): ${output.slice(-2000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Firestore emulator not ready after ${options.readyTimeoutMs ?? 30_000} ms: ${output.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    host,
    reset: (projectId) => resetEmulator(host, projectId),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

async function isReady(host: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

export async function resetEmulator(host: string, projectId: string): Promise<void> {
  const response = await fetch(`http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`, { method: 'DELETE' });
  if (!response.ok) throw new Error(`resetting the Firestore emulator failed: HTTP ${response.status}`);
}
