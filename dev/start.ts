/**
 * `npm start`: the broker on 127.0.0.1:${PORT:-8080} with embedded defaults (in-memory
 * state, the loopback Google emulator, the demo issuer and the development policy), then a
 * copy-paste command that performs a real exchange. BROKER_POLICY_FILE selects your own
 * policy instead; BROKER_ISSUER_URL sets the broker's issuer URL (default: its loopback URL).
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';

import { startDevStack } from './dev-stack';

async function main(): Promise<void> {
  const started = Date.now();
  const port = Number(process.env.PORT ?? 8080);
  const stack = await startDevStack({
    port,
    policyFile: process.env.BROKER_POLICY_FILE || undefined,
    env: { BROKER_ISSUER_URL: process.env.BROKER_ISSUER_URL },
  });
  const broker = await stack.broker;
  const readyMs = Date.now() - started;

  const exchange = [
    `curl -s ${stack.tokenUrl} \\`,
    `  -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\`,
    `  -d subject_token_type=urn:ietf:params:oauth:token-type:jwt \\`,
    `  --data-urlencode "subject_token=$(curl -s ${stack.issuer.issuer}/token)"`,
  ].join('\n');
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
      `  service accounts ${firstAccount ?? '(none)'}   (the emulator mints for these: built-in and named by the policy)`,
      ...otherAccounts.map((account) => `                   ${account}`),
      `  policy           ${stack.policyFile}   (version ${broker.policy.version.slice(0, 12)}, ${broker.policy.rules.length} rule(s))`,
      '',
      'Try an exchange:',
      '',
      exchange,
      '',
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );

  const stop = () => {
    void stack.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`token-broker failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
