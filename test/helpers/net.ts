import { createServer } from 'node:net';

/** A loopback port with nothing listening (a host that is down). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A loopback port that is free, and whose next port is free too (`npm start` puts the demo issuer there). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await closedPort();
    const next = createServer();
    const free = await new Promise<boolean>((resolve) => {
      next.once('error', () => resolve(false));
      next.listen(port + 1, '127.0.0.1', () => resolve(true));
    });
    if (free) await new Promise<void>((resolve) => next.close(() => resolve()));
    if (free) return port;
  }
}
