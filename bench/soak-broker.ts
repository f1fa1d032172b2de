/**
 * The broker side of `npm run soak`, run by bench/soak.ts in a child process of its own so
 * that the memory figures are the broker's and not the load generator's.
 *
 * Starts the development stack (the real `broker` function on the Functions Framework, the
 * demo issuer) on 127.0.0.1 with a soak policy and an in-memory token cache, minting at the
 * Google emulator the parent runs (SOAK_IAM_ENDPOINT). Every audit line is captured through
 * `auditTransport`, parsed and tallied, then dropped. Talks to the parent over the IPC channel
 * only (bench/soak-protocol.ts).
 */
process.env.METADATA_SERVER_DETECTION = 'none';
// The audit entries are the thing counted: they must not be silenced.
if (process.env.BROKER_LOG === 'silent') delete process.env.BROKER_LOG;

import { Writable } from 'node:stream';
import { exportJWK } from 'jose';
import { startDevStack, DEV_SERVICE_ACCOUNTS } from '../dev/dev-stack';
import {
  SOAK_MAX_LIFETIME_SECONDS,
  SOAK_REPOSITORY,
  SOAK_SCOPES,
  type AuditTally,
  type BrokerStats,
  type SoakMessage,
  type SoakRequest,
} from './soak-protocol';

/** Counts audit lines as they arrive and keeps nothing else. */
class AuditCounter extends Writable {
  readonly tally: AuditTally = { lines: 0, unparsable: 0, tokenExchange: 0, upstreamMint: 0, other: 0, outcomes: {}, cache: {}, reasons: {} };
  private partial = '';

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) if (line !== '') this.count(line);
    done();
  }

  private count(line: string): void {
    this.tally.lines++;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.tally.unparsable++;
      return;
    }
    if (entry.event === 'token_exchange') {
      this.tally.tokenExchange++;
      bump(this.tally.outcomes, String(entry.outcome));
      const cache = entry.cache as { outcome?: unknown } | undefined;
      if (cache?.outcome !== undefined) bump(this.tally.cache, String(cache.outcome));
      const error = entry.error as { reason?: unknown } | undefined;
      if (error?.reason !== undefined) bump(this.tally.reasons, String(error.reason));
    } else if (entry.event === 'upstream_mint') {
      this.tally.upstreamMint++;
    } else {
      this.tally.other++;
    }
  }
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function soakPolicy(urls: { issuer: string; broker: string }): string {
  return [
    'version: 1',
    'issuers:',
    `  - issuer: "${urls.issuer}"`,
    `    audiences: ["${urls.broker}"]`,
    '    algorithms: [RS256]',
    'rules:',
    '  - id: soak',
    '    description: Every soak-* subject of the soak repository.',
    `    issuer: "${urls.issuer}"`,
    `    condition: "claims.repository == '${SOAK_REPOSITORY}' && claims.sub.startsWith('soak-')"`,
    '    grant:',
    `      service_account: ${DEV_SERVICE_ACCOUNTS[0]}`,
    '      scopes:',
    ...SOAK_SCOPES.map((scope) => `        - ${scope}`),
    `      max_lifetime_seconds: ${SOAK_MAX_LIFETIME_SECONDS}`,
    '    audit_claims: [repository]',
    '',
  ].join('\n');
}

function send(message: SoakMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('bench/soak-broker.ts is started by bench/soak.ts (it needs an IPC channel)');
  const counter = new AuditCounter();
  const iamEndpoint = process.env.SOAK_IAM_ENDPOINT;
  if (!iamEndpoint?.startsWith('http://127.0.0.1:')) throw new Error('SOAK_IAM_ENDPOINT must be the loopback Google emulator bench/soak.ts runs');
  // The stack's own Google emulator stays idle: the broker mints at the parent's, whose
  // records of every request and token would otherwise count as the broker's memory.
  const stack = await startDevStack({
    port: 0,
    policyText: soakPolicy,
    env: { BROKER_CACHE: 'memory', BROKER_IAM_ENDPOINT: iamEndpoint },
    auditTransport: counter,
  });
  await stack.broker;
  await stack.audit.flush();

  const stats = (gc: boolean): BrokerStats => {
    const collect = (globalThis as { gc?: () => void }).gc;
    if (gc && collect) collect();
    const memory = process.memoryUsage();
    return {
      uptimeMs: Math.round(performance.now()),
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
      afterGc: gc && collect !== undefined,
      audit: structuredClone(counter.tally),
    };
  };

  process.on('message', (message: SoakRequest) => {
    if (message.cmd === 'stats') send({ type: 'stats', id: message.id, stats: stats(message.gc === true) });
    if (message.cmd === 'stop') {
      stack.close().then(() => process.exit(0), () => process.exit(1));
    }
  });
  process.on('disconnect', () => process.exit(0)); // the parent went away: do not linger

  const key = stack.issuer.signingKey();
  send({
    type: 'ready',
    tokenUrl: stack.tokenUrl,
    issuer: stack.issuer.issuer,
    audience: stack.url,
    kid: key.kid,
    privateJwk: await exportJWK(key.privateKey),
  });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
});
