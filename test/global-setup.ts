/**
 * The integration project's global setup (jest.config.js; the unit project has none): starts
 * the real Cloud Firestore emulator once for the run, unless FIRESTORE_EMULATOR_HOST already
 * names one (as `.ci/run` does). It is the only place the emulator starts: test files isolate
 * themselves with their own project ids, and outage tests cut a proxy in front of it
 * (test/helpers/firestore.ts). A machine without the emulator fails loudly here: the cache's
 * concurrency guarantees cannot be tested against anything less.
 */
import { startFirestoreEmulator } from '../dev/firestore-emulator';

export default async function globalSetup(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION = 'none';
  if (process.env.FIRESTORE_EMULATOR_HOST) return;
  const emulator = await startFirestoreEmulator();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  (globalThis as { __firestoreEmulator?: typeof emulator }).__firestoreEmulator = emulator;
}
