/**
 * `npm start`: the broker on 127.0.0.1:${PORT:-8080} with embedded defaults (in-memory
 * state, the loopback Google emulator, the demo issuer and the development policy), then a
 * copy-paste command that performs a real exchange.
 *   BROKER_POLICY_FILE   your own policy instead of the development one
 *   BROKER_ISSUER_URL    the broker's issuer URL (default: its loopback URL)
 *   DEMO_ISSUER_PORT     the demo issuer's port (default: PORT + 1, so a policy can name it)
 *   BROKER_CACHE=firestore  shared state (cache, limits, single-use assertions) in the Cloud
 *                        Firestore emulator: the one FIRESTORE_EMULATOR_HOST names, or one
 *                        started here; a second `npm start` on another PORT joins it.
 * Other BROKER_* settings pass through as in production.
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';

import { startFirestoreEmulator, type FirestoreEmulator } from './firestore-emulator';
import { startDevStack } from './dev-stack';

/** What development mode sets itself; the rest of BROKER_* comes from the environment. */
const OWN_SETTINGS = new Set(['BROKER_MODE', 'BROKER_IAM_ENDPOINT', 'BROKER_STS_ENDPOINT', 'BROKER_DEV_SOURCE_TOKEN', 'BROKER_POLICY_FILE']);

async function main(): Promise<void> {
  const started = Date.now();
  const port = Number(process.env.PORT ?? 8080);
  const issuerPort = process.env.DEMO_ISSUER_PORT ? Number(process.env.DEMO_ISSUER_PORT) : port === 0 ? 0 : port + 1;
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => (name.startsWith('BROKER_') && !OWN_SETTINGS.has(name)) || name === 'GOOGLE_CLOUD_PROJECT'));
  const emulator = await firestoreFor(env);
  const stack = await startDevStack({ port, issuerPort, policyFile: process.env.BROKER_POLICY_FILE || undefined, env }).catch(async (err: unknown) => {
    await emulator?.stop();
    throw err;
  });
  const broker = await stack.broker;
  const readyMs = Date.now() - started;

  const exchange = (...extra: string[]) => [
    `curl -s ${stack.tokenUrl} \\`,
    `  -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\`,
    `  -d subject_token_type=urn:ietf:params:oauth:token-type:jwt \\`,
    ...extra.map((parameter) => `  -d ${parameter} \\`),
    `  --data-urlencode "subject_token=$(curl -s ${stack.issuer.issuer}/token)"`,
  ].join('\n');
  // One command per kind of token, for the rules of the development policy that show them.
  const examples = [
    'Try an exchange:', '', exchange(),
    ...(broker.policy.rules.some((rule) => rule.id === 'demo-gcs-readonly')
      ? ['', 'An access token downscoped to one bucket (a Credential Access Boundary from the token\'s repository_owner):', '', exchange('audience=demo-gcs-readonly')]
      : []),
    ...(broker.policy.rules.some((rule) => rule.id === 'demo-cloud-run')
      ? ['', 'An ID token for a Cloud Run service:', '', exchange('audience=demo-cloud-run', 'requested_token_type=urn:ietf:params:oauth:token-type:id_token', 'resource=https://demo-service.example.run.app')]
      : []),
    ...(broker.policy.rules.some((rule) => rule.id === 'demo-gemini-live')
      ? ['', 'A Gemini Live API ephemeral token (for a browser\'s WebSocket):', '', exchange('audience=demo-gemini-live', 'requested_token_type=urn:x-token-broker:token-type:gemini-ephemeral')]
      : []),
  ];
  const [firstAccount, ...otherAccounts] = stack.google.serviceAccounts();
  process.stderr.write(
    [
      '',
      `token-broker (development mode) ready in ${readyMs} ms`,
      `  token endpoint   ${stack.tokenUrl}   (alias ${stack.url}/v1/token)`,
      `  metadata         ${stack.url}/.well-known/oauth-authorization-server`,
      `  issuer (aud)     ${stack.issuerUrl}   (RFC 8414 issuer; the aud of client assertions and demo tokens)`,
      `  demo issuer      ${stack.issuer.issuer}   (GET /token for a caller token)`,
      `  Google emulator  ${stack.google.url}`,
      `  Gemini emulator  ${stack.gemini.url}   (generateContent, Vertex and Developer API paths; takes broker and signed-in users' tokens)`,
      ...(broker.policy.webApps.has('demo-web')
        ? [`  demo web app     ${stack.url}/demo/   (sign in as a user on the emulated Google consent page: ${stack.oauth.url})`]
        : []),
      `  service accounts ${firstAccount ?? '(none)'}   (the emulator mints for these: built-in and named by the policy)`,
      ...otherAccounts.map((account) => `                   ${account}`),
      `  policy           ${stack.policyFile}   (version ${broker.policy.version.slice(0, 12)}, ${broker.policy.rules.length} rule(s))`,
      ...stateLines(env, emulator, stack.policyFile, stack.issuerUrl),
      '',
      ...examples,
      '',
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );

  const stop = () => {
    void stack.close().then(() => emulator?.stop()).then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** With BROKER_CACHE=firestore and no FIRESTORE_EMULATOR_HOST, an emulator of this process's own. */
async function firestoreFor(env: NodeJS.ProcessEnv): Promise<FirestoreEmulator | undefined> {
  if (env.BROKER_CACHE !== 'firestore' || process.env.FIRESTORE_EMULATOR_HOST) return undefined;
  const emulator = await startFirestoreEmulator();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  return emulator;
}

function stateLines(env: NodeJS.ProcessEnv, emulator: FirestoreEmulator | undefined, policyFile: string, issuerUrl: string): string[] {
  if (env.BROKER_CACHE !== 'firestore') {
    return [`  shared state     ${env.BROKER_CACHE === 'none' ? 'none (no cache)' : 'memory: this process only'}   (BROKER_CACHE=firestore shares it through the Firestore emulator)`];
  }
  const host = process.env.FIRESTORE_EMULATOR_HOST ?? '';
  const key = env.BROKER_CACHE_LOCAL_KEY ? 'BROKER_CACHE_LOCAL_KEY' : 'the fixed development key (in place of Cloud KMS)';
  return [
    `  shared state     Firestore emulator ${host} (${emulator ? 'started here, stops with it' : 'from FIRESTORE_EMULATOR_HOST'}); cache entries wrapped with ${key}`,
    '',
    'A second instance sharing limits, single-use assertions and the cache:',
    '',
    `FIRESTORE_EMULATOR_HOST=${host} BROKER_CACHE=firestore PORT=8090 \\`,
    `  BROKER_ISSUER_URL=${issuerUrl} BROKER_POLICY_FILE=${policyFile} npm start`,
  ];
}

main().catch((err: unknown) => {
  process.stderr.write(`token-broker failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
