/**
 * The test environment of the `unit` project: Node's, with every way out of the process shut.
 * A unit test is pure logic: no Firestore or its emulator, no Java, no child process, no
 * server, no network. While a unit test file runs, each of these fails at once with an error
 * that names the rule:
 *   - a listening socket (`net`, `http`, the Functions Framework's test server, the dev stack);
 *   - an outgoing connection (`fetch`, `http.request`, gRPC: the Firestore and KMS clients);
 *   - a child process (`spawn`, `exec`, `fork` and their sync forms: the emulator is Java);
 *   - FIRESTORE_EMULATOR_HOST names a loopback port nobody listens on, so a Firestore client
 *     never reaches the integration project's emulator or Google.
 * The error is thrown where the call is made, and recorded as well: a library that swallows it
 * (gRPC retries a failed connection) still fails the test that caused it, or the file when no
 * test was running. Tests that need any of these belong in the `integration` project: name the
 * file `*.int.test.ts`.
 */
import childProcess = require('node:child_process');
import * as net from 'node:net';
import type { Circus } from '@jest/types';
import NodeEnvironment from 'jest-environment-node';

/** Where unit tests find "the Firestore emulator": the discard port, closed on these machines. */
export const UNIT_FIRESTORE_EMULATOR_HOST = '127.0.0.1:9';

const RULE =
  'unit tests run pure logic: no Firestore, no emulator or Java, no child process, no server, no network. ' +
  'Name the file *.int.test.ts to run it in the integration project.';

export class UnitTestViolation extends Error {
  override readonly name = 'UnitTestViolation';
  /** How often the same call was refused (a client library retries). */
  count = 1;
  constructor(readonly what: string) {
    super(`${what}: ${RULE}`);
  }
}

/** What the guard exposes to the test file that checks it (test/unit-environment.test.ts). */
export interface UnitGuard {
  /** Violations recorded and not yet reported; taking them clears them. */
  takeViolations(): UnitTestViolation[];
}

type ChildProcessModule = typeof childProcess;
type Restore = () => void;

export default class UnitEnvironment extends NodeEnvironment {
  private pending: UnitTestViolation[] = [];
  private readonly restores: Restore[] = [];

  override async setup(): Promise<void> {
    await super.setup();
    this.global.process.env.FIRESTORE_EMULATOR_HOST = UNIT_FIRESTORE_EMULATOR_HOST;
    const guard: UnitGuard = { takeViolations: () => this.pending.splice(0) };
    this.global.__unitGuard = guard;
    this.shut();
  }

  override async teardown(): Promise<void> {
    for (const restore of this.restores.splice(0).reverse()) restore();
    const unreported = this.pending.splice(0);
    await super.teardown();
    if (unreported.length > 0) throw unreported[0];
  }

  /**
   * Hands each violation to the test that was running (unless the test already failed with
   * it), or to the file when none was.
   */
  handleTestEvent(event: Circus.Event, state: Circus.State): void {
    if (event.name === 'test_done' && this.pending.length > 0) {
      const failedWith = new Set(event.test.errors.flat());
      event.test.errors.push(...this.pending.splice(0).filter((error) => !failedWith.has(error)));
    }
    if (event.name === 'run_finish' && this.pending.length > 0) state.unhandledErrors.push(...this.pending.splice(0));
  }

  /** The error for a refused call, its stack starting at the caller of `refusal`; repeats are counted, not listed. */
  private violation(what: string, refusal: Function): UnitTestViolation {
    const seen = this.pending.find((error) => error.what === what);
    if (seen) {
      seen.count++;
      seen.message = `${what} (${seen.count} times): ${RULE}`;
      return seen;
    }
    const error = new UnitTestViolation(what);
    Error.captureStackTrace(error, refusal);
    this.pending.push(error);
    return error;
  }

  /** Replaces the process's own ways out with ones that refuse, until teardown. */
  private shut(): void {
    const violation = (what: string, refusal: Function) => this.violation(what, refusal);
    this.replace(net.Server.prototype, 'listen', function listen(this: net.Server) {
      throw violation('a unit test opened a listening socket', listen);
    });
    this.replace(net.Socket.prototype, 'connect', function connect(this: net.Socket, ...args: unknown[]) {
      throw violation(`a unit test opened a connection to ${describeTarget(args)}`, connect);
    });
    // Every asynchronous way to start a process (spawn, exec, execFile, fork) ends here.
    const processPrototype = childProcess.ChildProcess.prototype as unknown as { spawn(options: { file?: string }): void };
    this.replace(processPrototype, 'spawn', function spawn(options: { file?: string }) {
      throw violation(`a unit test started a child process (${options?.file ?? 'unknown'})`, spawn);
    });
    for (const name of ['spawnSync', 'execSync', 'execFileSync'] as const) {
      this.replace(childProcess as Record<typeof name, unknown> & ChildProcessModule, name, function sync(file: unknown) {
        throw violation(`a unit test started a child process (${String(file)})`, sync);
      });
    }
  }

  private replace<T extends object, K extends keyof T>(target: T, key: K, refusal: (...args: any[]) => unknown): void {
    const original = target[key];
    const descriptor = Object.getOwnPropertyDescriptor(target, key);
    Object.defineProperty(target, key, { value: refusal, writable: true, configurable: true, enumerable: descriptor?.enumerable ?? false });
    this.restores.push(() => {
      if (descriptor) Object.defineProperty(target, key, descriptor);
      else (target as Record<K, unknown>)[key] = original;
    });
  }
}

/** host:port, path or "unknown" for the arguments of `Socket#connect`. */
function describeTarget(args: unknown[]): string {
  const [first, second] = args;
  const options = (Array.isArray(first) ? first[0] : first) as { host?: string; port?: number; path?: string } | number | string | undefined;
  if (typeof options === 'number') return `${typeof second === 'string' ? second : 'localhost'}:${options}`;
  if (typeof options === 'string') return options;
  if (options?.path) return options.path;
  if (options?.port !== undefined) return `${options.host ?? 'localhost'}:${options.port}`;
  return 'unknown';
}
