/** Firestore clients for the real emulator, one per simulated broker instance. */
import { Firestore } from '@google-cloud/firestore';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../dev/firestore-emulator';

export class FirestoreClients {
  private readonly opened: Firestore[] = [];

  /**
   * A client for the suite's emulator, or for another one at `host`. The client reads
   * FIRESTORE_EMULATOR_HOST at construction. Clients of another emulator are left to their test
   * to terminate: a test that stops that emulator must restart it first, or the SDK's
   * background retries throw outside any caller.
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

/**
 * Ends a test that took its own emulator away mid-run: stops it, brings Firestore back on the
 * same port so the SDK's background retries of the abandoned calls complete, then runs `close`
 * (terminating the client, or whatever owns it) and stops the revived emulator.
 */
export async function stopThenClose(emulator: FirestoreEmulator, close: () => Promise<void>): Promise<void> {
  await emulator.stop();
  const revived = await startFirestoreEmulator({ port: Number(emulator.host.split(':')[1]) });
  await close();
  await revived.stop();
}
