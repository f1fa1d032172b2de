/** Which URLs the broker may fetch keys from, in production and in development. */
import { isLoopbackHost, urlRefusal } from '../../shared/config/network-policy';

const PRODUCTION = { allowInsecureLoopback: false };
const DEVELOPMENT = { allowInsecureLoopback: true };

it.each([
  'localhost', 'LOCALHOST', 'localhost.', 'api.localhost', '127.0.0.1', '127.1.2.3', '0.0.0.0',
  '[::1]', '[::]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[::ffff:0:0]',
])('%s is loopback', (host) => {
  expect(isLoopbackHost(new URL(`https://${host}/`).hostname)).toBe(true);
});

it.each(['example.com', 'localhost.example.com', '128.0.0.1', '10.0.0.1', '[2001:db8::1]', '[::ffff:8.8.8.8]'])('%s is not loopback', (host) => {
  expect(isLoopbackHost(new URL(`https://${host}/`).hostname)).toBe(false);
});

it.each([
  ['https://issuer.example.com/jwks', undefined],
  ['http://issuer.example.com/jwks', 'only https URLs are allowed'],
  ['https://127.0.0.1/jwks', 'loopback addresses are allowed only in development mode'],
  ['https://[::ffff:127.0.0.1]/jwks', 'loopback addresses are allowed only in development mode'],
  ['https://user:pw@issuer.example.com/jwks', 'URLs with credentials are not allowed'],
  ['file:///etc/passwd', 'only https URLs are allowed'],
])('production: %s', (url, refusal) => {
  expect(urlRefusal(new URL(url), PRODUCTION)).toBe(refusal);
});

it.each([
  ['http://127.0.0.1:8081/jwks', undefined],
  ['https://issuer.example.com/jwks', undefined],
  ['http://issuer.example.com/jwks', 'only https URLs, or http to a loopback address, are allowed'],
])('development: %s', (url, refusal) => {
  expect(urlRefusal(new URL(url), DEVELOPMENT)).toBe(refusal);
});
