/**
 * @token-broker/client for browsers (and any runtime with fetch and WebCrypto): no Node
 * built-ins. Subject tokens come as a string, a URL or a function; the `session` credential
 * is the broker's user sign-in.
 */
export * from './lib/public';
