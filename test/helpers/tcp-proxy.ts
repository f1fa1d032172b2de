/**
 * A loopback TCP proxy for fault injection: put it between a client and a dependency (the
 * Firestore emulator, the KMS emulator) and switch what the network does, while connections
 * stay open:
 *   healthy    bytes pass both ways, each chunk delayed by `latencyMs` (order kept)
 *   stall      connections are accepted, nothing is forwarded either way; what arrives is
 *              held and delivered in order once the proxy is healthy again (a partition that
 *              heals, as TCP would retransmit)
 *   reset      every open connection is reset (RST), and so is every new one at once
 *   down       every open connection is reset and nothing listens on the proxy's port, so new
 *              connections are refused: the dependency's process has stopped
 * Switching from `down` to another mode listens on the same port again; await it.
 * Binds 127.0.0.1 only, and connects only to 127.0.0.1.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'healthy' | 'stall' | 'reset' | 'down';

export interface TcpProxy {
  /** host:port of the proxy (e.g. the value for FIRESTORE_EMULATOR_HOST). */
  readonly host: string;
  readonly port: number;
  readonly mode: ProxyMode;
  /** Added latency per forwarded chunk, per direction, in ms (healthy mode). */
  latencyMs: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Resolves once the proxy listens (at once, unless it was down). */
  healthy(latencyMs?: number): Promise<void>;
  stall(): Promise<void>;
  reset(): Promise<void>;
  /** Resolves once the port is closed and every open connection reset. */
  down(): Promise<void>;
  close(): Promise<void>;
}

interface Pipe {
  readonly from: Socket;
  readonly to: Socket;
  /** Chunks not yet written to `to`. */
  readonly held: Buffer[];
  /** When the last scheduled chunk is due (keeps order under latency). */
  dueAt: number;
  timers: Set<NodeJS.Timeout>;
}

export async function startTcpProxy(target: { port: number; host?: string }): Promise<TcpProxy> {
  const targetHost = target.host ?? '127.0.0.1';
  if (targetHost !== '127.0.0.1') throw new TypeError('the fault proxy forwards to 127.0.0.1 only');
  let mode: ProxyMode = 'healthy';
  let accepted = 0;
  const pipes = new Set<Pipe>();
  const sockets = new Set<Socket>();

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // resets are the point here
  };

  const destroyRudely = (socket: Socket) => {
    if (socket.destroyed) return;
    if (typeof socket.resetAndDestroy === 'function' && socket.readyState !== 'opening') socket.resetAndDestroy();
    else socket.destroy();
  };

  /** Writes what a pipe holds, as far as the mode allows. */
  const pump = (pipe: Pipe) => {
    if (mode !== 'healthy') return;
    while (pipe.held.length > 0) {
      const chunk = pipe.held.shift() as Buffer;
      const wait = Math.max(0, Math.max(Date.now() + proxy.latencyMs, pipe.dueAt) - Date.now());
      pipe.dueAt = Date.now() + wait;
      if (wait === 0) {
        if (!pipe.to.destroyed) pipe.to.write(chunk);
        continue;
      }
      const timer = setTimeout(() => {
        pipe.timers.delete(timer);
        if (!pipe.to.destroyed) pipe.to.write(chunk);
      }, wait);
      pipe.timers.add(timer);
    }
  };

  const pipe = (from: Socket, to: Socket): Pipe => {
    const p: Pipe = { from, to, held: [], dueAt: 0, timers: new Set() };
    pipes.add(p);
    from.on('data', (chunk: Buffer) => {
      p.held.push(chunk);
      pump(p);
    });
    const end = () => {
      pipes.delete(p);
      for (const timer of p.timers) clearTimeout(timer);
      destroyRudely(to);
    };
    from.once('close', end);
    return p;
  };

  const server: Server = createServer((client) => {
    accepted++;
    track(client);
    if (mode === 'reset' || mode === 'down') {
      destroyRudely(client);
      return;
    }
    const upstream = createConnection({ host: targetHost, port: target.port });
    track(upstream);
    upstream.once('error', () => destroyRudely(client));
    pipe(client, upstream);
    pipe(upstream, client);
  });
  const listen = (on: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(on, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const { port } = server.address() as { port: number };
  /** Back on the same port after `down` (once, however many callers wait for it). */
  let relisten: Promise<void> | undefined;
  const listening = () =>
    server.listening ? Promise.resolve() : (relisten ??= listen(port).finally(() => (relisten = undefined)));
  const resetAll = () => {
    for (const p of pipes) p.held.length = 0;
    for (const socket of sockets) destroyRudely(socket);
  };

  const proxy: TcpProxy = {
    host: `127.0.0.1:${port}`,
    port,
    latencyMs: 0,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    healthy(latencyMs = 0) {
      proxy.latencyMs = latencyMs;
      mode = 'healthy';
      for (const p of pipes) pump(p);
      return listening();
    },
    stall() {
      mode = 'stall';
      return listening();
    },
    reset() {
      mode = 'reset';
      resetAll();
      return listening();
    },
    async down() {
      mode = 'down';
      const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      resetAll();
      await closed;
    },
    async close() {
      for (const p of pipes) for (const timer of p.timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    },
  };
  return proxy;
}
