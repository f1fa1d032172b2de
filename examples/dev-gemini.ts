/**
 * `npm start`'s composition plus a loopback Gemini (Vertex AI generateContent) emulator, so the
 * examples can run end to end on one machine:
 *
 *   npx tsx examples/dev-gemini.ts
 *
 * The broker on 127.0.0.1:${PORT:-8080} (development mode, embedded policy, rule demo-gemini),
 * the demo issuer on PORT + 1, and the Gemini emulator on GEMINI_PORT (default PORT + 2). The
 * emulator accepts only tokens the development broker minted (it asks the Google emulator in
 * this process), which is why it cannot run beside a separate `npm start`. Audit lines go to
 * stdout, as with `npm start`: the `tokenSha256` of each exchange is there.
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';

import { startDevStack } from '../dev/dev-stack';
import { startGeminiEmulator } from '../dev/gemini-emulator';

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8080);
  const stack = await startDevStack({ port, issuerPort: port === 0 ? 0 : port + 1 });
  await stack.broker;
  const gemini = await startGeminiEmulator({ googleEmulator: stack.google, port: Number(process.env.GEMINI_PORT ?? (port === 0 ? 0 : port + 2)) });
  process.stderr.write([
    '',
    'token-broker (development mode) with a Gemini emulator',
    `  token endpoint   ${stack.tokenUrl}`,
    `  demo issuer      ${stack.issuer.issuer}   (GET /token for a caller token)`,
    `  Gemini emulator  ${gemini.url}   (--gemini-base-url for the examples)`,
    '',
    `curl -s ${stack.issuer.issuer}/token > /tmp/subject.jwt`,
    `npm run -s admin -- external-account --broker-url ${stack.url} --allow-insecure-loopback --audience demo-gemini --token-file /tmp/subject.jwt --out /tmp/broker-credentials.json`,
    `node examples/node/gemini.mjs --credentials /tmp/broker-credentials.json --project acme-prod --gemini-base-url ${gemini.url}`,
    '',
    'Ctrl-C stops it.',
    '',
  ].join('\n'));
  const stop = () => void Promise.all([gemini.close(), stack.close()]).then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
