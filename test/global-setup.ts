/**
 * Starts the real Cloud Firestore emulator once for the whole suite, unless
 * FIRESTORE_EMULATOR_HOST already names one (as `.ci/run` does). Test files isolate
 * themselves with their own project ids. A machine without the emulator fails loudly here:
 * the cache's concurrency guarantees cannot be tested against anything less.
 */
import { startFirestoreEmulator } from '../dev/firestore-emulator';

export default async function globalSetup(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION = 'none';
  if (process.env.FIRESTORE_EMULATOR_HOST) return;
  const emulator = await startFirestoreEmulator();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  (globalThis as { __firestoreEmulator?: typeof emulator }).__firestoreEmulator = emulator;
}
