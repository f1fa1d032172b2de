/**
 * Which URLs the broker may be configured to reach: https, or, in development mode only,
 * loopback addresses (over plain http too). The configuration reader, the policy compiler and
 * every fetch of issuer keys ask here.
 */

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
