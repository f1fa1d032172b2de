/**
 * Requests byte by byte over 127.0.0.1 with node:http, for what fetch will not send: no
 * Content-Type at all, raw non-ASCII bytes, chunked bodies without Content-Length, any
 * method, any Content-Encoding.
 */
import { request } from 'node:http';
import type { Answer } from './http';

export interface RawRequest {
  method?: string;
  /** Path and query, e.g. `/token?x=1` (default `/token`). */
  path?: string;
  headers?: Record<string, string>;
  /** Sent with a Content-Length. */
  body?: Buffer | string;
  /** Sent with `Transfer-Encoding: chunked` and no Content-Length, one write per chunk. */
  chunks?: Buffer[];
}

export function rawRequest(baseUrl: string, req: RawRequest): Promise<Answer> {
  const url = new URL(req.path ?? '/token', baseUrl);
  const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'latin1');
  const headers: Record<string, string> = { ...req.headers };
  if (body !== undefined) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: '127.0.0.1', port: url.port, path: `${url.pathname}${url.search}`, method: req.method ?? 'POST', headers },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            /* left empty: the test asserts on what it expects */
          }
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          resolve({ status: res.statusCode ?? 0, headers: responseHeaders, body: parsed, text });
        });
      },
    );
    outgoing.on('error', reject);
    if (req.chunks) for (const chunk of req.chunks) outgoing.write(chunk);
    outgoing.end(body);
  });
}

/** `application/x-www-form-urlencoded` serialisation of ordered pairs, names and values percent-encoded. */
export function formBody(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&');
}

export interface Sent {
  res: Answer;
  /** Requests the Google emulator received while this one was answered. */
  upstreamCalls: number;
}

/** Sends `req` to the stack's broker and counts what reached its Google emulator meanwhile. */
export async function sendCounting(stack: { url: string; google: { requests: readonly unknown[] } }, req: RawRequest): Promise<Sent> {
  const before = stack.google.requests.length;
  const res = await rawRequest(stack.url, req);
  return { res, upstreamCalls: stack.google.requests.length - before };
}
