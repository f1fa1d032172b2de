/** Firestore clients for the real emulator, one per simulated broker instance, and outages of it for one test's clients. */
import { Firestore } from '@google-cloud/firestore';
import { startTcpProxy } from './tcp-proxy';

export class FirestoreClients {
  private readonly opened: Firestore[] = [];

  /**
   * A client for the suite's emulator, or for one at `host` (a FirestoreOutage's proxy). The
   * client reads FIRESTORE_EMULATOR_HOST at construction. Clients of another host are left to
   * their test to terminate: a test that takes Firestore away must bring it back first, or the
   * SDK's background retries throw outside any caller.
   */
  open(projectId: string, host?: string): Firestore {
    const shared = process.env.FIRESTORE_EMULATOR_HOST;
    if (host) process.env.FIRESTORE_EMULATOR_HOST = host;
    const client = new Firestore({ projectId });
    process.env.FIRESTORE_EMULATOR_HOST = shared;
    if (!host) this.opened.push(client);
    return client;
  }

  async terminateAll(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((client) => client.terminate()));
  }
}

export interface FirestoreOutage {
  /** host:port for a client that is to lose Firestore (FirestoreClients.open's `host`). */
  readonly host: string;
  /** Takes Firestore away from the proxy's clients, as a stopped emulator would: open connections reset, new ones refused. */
  cut(): Promise<void>;
  /**
   * Ends the test: brings Firestore back so the SDK's background retries of the abandoned
   * calls complete, runs `close` (terminating the client, or whatever owns it), then closes
   * the proxy.
   */
  end(close: () => Promise<void>): Promise<void>;
}

/**
 * An outage of the suite's emulator for the clients of one test: a loopback TCP proxy in front
 * of it that the test cuts and restores. The emulator itself keeps serving every other client.
 */
export async function firestoreOutage(): Promise<FirestoreOutage> {
  const suite = process.env.FIRESTORE_EMULATOR_HOST;
  const match = /^(127\.0\.0\.1):(\d+)$/.exec(suite ?? '');
  if (!match) throw new Error(`a Firestore outage needs the suite's emulator on 127.0.0.1 (FIRESTORE_EMULATOR_HOST is ${suite ?? 'unset'})`);
  const proxy = await startTcpProxy({ host: match[1], port: Number(match[2]) });
  return {
    host: proxy.host,
    cut: () => proxy.down(),
    async end(close) {
      await proxy.healthy();
      await close();
      await proxy.close();
    },
  };
}
