/**
 * Serves the deployed entry point (functions/index.ts, configured from the environment
 * exactly as on Cloud Functions) on 127.0.0.1:${PORT:-8080}. Unlike `npm start` it brings no
 * demo issuer or emulator: point BROKER_* variables at real or emulated services. Tests run
 * several of these as separate broker instances sharing one Firestore.
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';

import type { AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import '../functions/index';

const server = getTestServer('broker');
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
