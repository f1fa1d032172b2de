/**
 * The only way the broker fetches anything from an issuer: GET, no redirects, a timeout,
 * a size cap, and HTTPS only. Loopback addresses are allowed (over plain HTTP too) in
 * development and tests only; production refuses them outright.
 */

/** Raised when an issuer's discovery document or JWKS cannot be obtained. */
import { urlRefusal, type NetworkPolicy } from '../config/network-policy';

export class KeyFetchError extends Error {
  readonly code = 'ERR_KEY_FETCH';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyFetchError';
  }
}

export interface BoundedFetchOptions {
  maxBytes: number;
  timeoutMs: number;
  network: NetworkPolicy;
  headers?: HeadersInit;
  signal?: AbortSignal;
}

/** GETs `url` and returns the status and at most `maxBytes` of body, or throws KeyFetchError. */
export async function boundedGet(url: string, options: BoundedFetchOptions): Promise<Response> {
  const parsed = new URL(url);
  const refusal = urlRefusal(parsed, options.network);
  if (refusal) throw new KeyFetchError(`refusing to fetch ${parsed.origin}: ${refusal}`);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch(parsed, { method: 'GET', redirect: 'manual', headers: options.headers, signal });
  } catch (cause) {
    throw new KeyFetchError(`fetching ${parsed.origin}${parsed.pathname} failed`, { cause });
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel();
    throw new KeyFetchError(`${parsed.origin}${parsed.pathname} answered a redirect; redirects are not followed`);
  }
  const body = await readCapped(response, options.maxBytes, parsed);
  return new Response(body, { status: response.status, headers: response.headers });
}

async function readCapped(response: Response, maxBytes: number, url: URL): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new KeyFetchError(`${url.origin}${url.pathname} is larger than ${maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel();
        throw new KeyFetchError(`${url.origin}${url.pathname} is larger than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (cause) {
    if (cause instanceof KeyFetchError) throw cause;
    throw new KeyFetchError(`reading ${url.origin}${url.pathname} failed`, { cause });
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
