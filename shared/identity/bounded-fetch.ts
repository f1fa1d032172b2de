/**
 * The only way the broker fetches anything from an issuer: GET, no redirects, a timeout,
 * a size cap, and HTTPS only. Loopback addresses are allowed (over plain HTTP too) in
 * development and tests only; production refuses them outright.
 */

/** Raised when an issuer's discovery document or JWKS cannot be obtained. */
export class KeyFetchError extends Error {
  readonly code = 'ERR_KEY_FETCH';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyFetchError';
  }
}

export interface NetworkPolicy {
  /** Allow `http://` to 127.0.0.0/8, ::1 and localhost (development and tests only). */
  allowInsecureLoopback: boolean;
}

const LOOPBACK_NAMES = /^(localhost|[a-z0-9-]+\.localhost)$/;
const LOOPBACK_IPV4 = /^(127(?:\.\d{1,3}){3}|0\.0\.0\.0)$/;
const LOOPBACK_IPV6 = /^(::1?|::ffff:(127(?:\.\d{1,3}){3}|0\.0\.0\.0|7f[0-9a-f]{2}:[0-9a-f]{1,4}|0:0))$/;

/**
 * Whether a URL hostname names this machine: `localhost` (and `*.localhost`, RFC 6761), with
 * or without a trailing dot, 127.0.0.0/8, 0.0.0.0, `[::1]`, `[::]` and IPv4-mapped forms of
 * these. (A DNS name that resolves to loopback is not caught here: that needs a resolver.)
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('[') && host.endsWith(']')) return LOOPBACK_IPV6.test(host.slice(1, -1));
  return LOOPBACK_NAMES.test(host) || LOOPBACK_IPV4.test(host);
}

/** Why a URL may not be fetched under `policy`, or undefined when it may. */
export function urlRefusal(url: URL, policy: NetworkPolicy): string | undefined {
  if (url.username || url.password) return 'URLs with credentials are not allowed';
  if (!policy.allowInsecureLoopback && isLoopbackHost(url.hostname)) return 'loopback addresses are allowed only in development mode';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && policy.allowInsecureLoopback && isLoopbackHost(url.hostname)) return undefined;
  return policy.allowInsecureLoopback
    ? 'only https URLs, or http to a loopback address, are allowed'
    : 'only https URLs are allowed';
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
