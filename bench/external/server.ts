/**
 * One HTTP server under external load, started by bench/external/run.ts in a process of its own
 * (pinned by the parent with `taskset -c 1`). BENCH_SERVER picks what it serves:
 *   broker   the development composition (startDevStack: the real `broker` function on the
 *            Functions Framework, the demo issuer, the Google emulator), with the policy
 *            BENCH_POLICY_FILE when set (its {{BROKER_URL}} filled in), else the development
 *            policy; BENCH_ENV (JSON) is passed to the configuration reader (BROKER_CACHE,
 *            BROKER_IAM_ENDPOINT of the parent's Google emulator, ...)
 *   trivial  a function registered with the same Functions Framework, served the same way
 *            (getTestServer(...).listen), behind the same body-parsing takeover as the broker,
 *            answering any POST with a JSON body of BENCH_TRIVIAL_BYTES bytes
 *   shipped  the broker as it ships: the bundle `npm run build` writes (dist/functions/index.js,
 *            its `broker` function and composition root, nothing else in the process), served
 *            the same way; BENCH_ENV is its environment (BROKER_POLICY_FILE, BROKER_CACHE, the
 *            parent's Google emulator as BROKER_IAM_ENDPOINT, ...); the audit lines it prints
 *            on stdout are tallied in-process instead of written to the pipe
 * It talks to the parent over IPC only: `ready` (URLs), `sign` (a demo-issuer token), `stats`
 * (audit tally: cache outcomes and answers), `stop`. Everything binds 127.0.0.1.
 */
process.env.METADATA_SERVER_DETECTION = 'none';

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';

export type ServerRequest =
  | { cmd: 'sign'; id: number; claims: Record<string, unknown> }
  | { cmd: 'stats'; id: number }
  | { cmd: 'stop' };
export type ServerMessage =
  | { type: 'ready'; url: string; tokenUrl: string; issuer?: string }
  | { type: 'signed'; id: number; token: string }
  | { type: 'stats'; id: number; stats: ServerStats }
  | { type: 'error'; message: string };
export interface ServerStats {
  rss: number;
  auditLines: number;
  /** token_exchange entries by cache outcome ("none" when the entry has no cache member). */
  cache: Record<string, number>;
  outcomes: Record<string, number>;
}

/** Tallies audit lines cheaply (substring search, no JSON.parse on the hot path). */
class AuditTally extends Writable {
  readonly stats: ServerStats = { rss: 0, auditLines: 0, cache: {}, outcomes: {} };
  private partial = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line === '') continue;
      this.stats.auditLines++;
      if (!line.includes('"token_exchange"')) continue;
      const cache = /"cache":\{"outcome":"([a-z-]+)"/.exec(line)?.[1] ?? 'none';
      this.stats.cache[cache] = (this.stats.cache[cache] ?? 0) + 1;
      const outcome = /"outcome":"([a-z_]+)"/.exec(line)?.[1] ?? '?';
      this.stats.outcomes[outcome] = (this.stats.outcomes[outcome] ?? 0) + 1;
    }
    done();
  }
}

const send = (message: ServerMessage) => process.send?.(message);

async function trivial(): Promise<void> {
  // Only what the trivial handler needs: the broker's modules stay out of this process.
  const { takeOverFrameworkBodyParsing } = await import('../../functions/http/framework-body.js');
  takeOverFrameworkBodyParsing(64 * 1024);
  const bytes = Number(process.env.BENCH_TRIVIAL_BYTES ?? 64);
  // {"access_token":"xxx…","token_type":"Bearer"}: pad the token to the broker's body size.
  const skeleton = JSON.stringify({ access_token: '', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 900 });
  const body = JSON.stringify({ access_token: 'x'.repeat(Math.max(0, bytes - skeleton.length)), issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 900 });
  http('bench-trivial', (req, res) => {
    if (req.method !== 'POST') return void res.status(405).end();
    res.status(200).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).type('application/json').send(body);
  });
  const server = getTestServer('bench-trivial');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.on('message', (message: ServerRequest) => {
    if (message.cmd === 'stats') send({ type: 'stats', id: message.id, stats: { rss: process.memoryUsage().rss, auditLines: 0, cache: {}, outcomes: {} } });
    if (message.cmd === 'stop') server.close(() => process.exit(0));
  });
  send({ type: 'ready', url, tokenUrl: `${url}/token` });
}

async function broker(): Promise<void> {
  const { startDevStack } = await import('../../dev/dev-stack.js');
  const tally = new AuditTally();
  const env = JSON.parse(process.env.BENCH_ENV ?? '{}') as Record<string, string>;
  const template = process.env.BENCH_POLICY_FILE ? readFileSync(process.env.BENCH_POLICY_FILE, 'utf8') : undefined;
  const stack = await startDevStack({
    port: 0,
    env,
    auditTransport: tally,
    ...(template ? { policyText: (urls: { broker: string }) => template.replaceAll('{{BROKER_URL}}', urls.broker) } : {}),
  });
  await stack.broker;
  process.on('message', (message: ServerRequest) => {
    if (message.cmd === 'sign') {
      stack.issuer.sign(message.claims, { ttlSeconds: 3600 }).then((token: string) => send({ type: 'signed', id: message.id, token }));
    }
    if (message.cmd === 'stats') send({ type: 'stats', id: message.id, stats: { ...structuredClone(tally.stats), rss: process.memoryUsage().rss } });
    if (message.cmd === 'stop') stack.close().then(() => process.exit(0), () => process.exit(1));
  });
  send({ type: 'ready', url: stack.url, tokenUrl: stack.tokenUrl, issuer: stack.issuer.issuer });
}

async function shipped(): Promise<void> {
  const tally = new AuditTally();
  // The entry's audit log writes to process.stdout: its lines are counted here instead.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    tally.write(chunk);
    const done = rest.find((arg): arg is () => void => typeof arg === 'function');
    done?.();
    return true;
  }) as typeof process.stdout.write;
  Object.assign(process.env, JSON.parse(process.env.BENCH_ENV ?? '{}') as Record<string, string>);
  const entry = join(__dirname, '..', '..', 'dist', 'functions', 'index.js');
  const loaded = require(entry) as { closeBroker(): Promise<void> };
  const server = getTestServer('broker');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.on('message', (message: ServerRequest) => {
    if (message.cmd === 'stats') send({ type: 'stats', id: message.id, stats: { ...structuredClone(tally.stats), rss: process.memoryUsage().rss } });
    if (message.cmd === 'stop') loaded.closeBroker().finally(() => server.close(() => process.exit(0)));
  });
  send({ type: 'ready', url, tokenUrl: `${url}/token` });
}

process.on('disconnect', () => process.exit(0));
(process.env.BENCH_SERVER === 'trivial' ? trivial() : process.env.BENCH_SERVER === 'shipped' ? shipped() : broker()).catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
});
