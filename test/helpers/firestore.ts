/** Firestore clients for the real emulator, one per simulated broker instance. */
import { Firestore } from '@google-cloud/firestore';

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
