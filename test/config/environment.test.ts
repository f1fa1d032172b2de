/** Start-up configuration: unsafe settings are refused before any request is served. */
import { readBrokerConfig } from '../../shared/config/environment';
import { ConfigurationError } from '../../shared/errors';

const base = { BROKER_POLICY_FILE: '/etc/broker/policy.yaml' };

describe('production (the default mode)', () => {
  it('uses Application Default Credentials, Google IAM and HTTPS-only fetching', () => {
    expect(readBrokerConfig(base)).toEqual({
      mode: 'production',
      policyFile: '/etc/broker/policy.yaml',
      issuerUrl: undefined,
      iamEndpoint: 'https://iamcredentials.googleapis.com',
      maxLifetimeSeconds: 3600,
      source: { kind: 'application-default' },
      network: { allowInsecureLoopback: false },
    });
  });

  it.each([
    ['no policy file', {}, /BROKER_POLICY_FILE/],
    ['an unknown mode', { ...base, BROKER_MODE: 'dev' }, /BROKER_MODE/],
    ['a loopback IAM endpoint (the emulator)', { ...base, BROKER_IAM_ENDPOINT: 'http://127.0.0.1:8090' }, /BROKER_IAM_ENDPOINT/],
    ['an https loopback IAM endpoint', { ...base, BROKER_IAM_ENDPOINT: 'https://localhost:8443' }, /BROKER_IAM_ENDPOINT/],
    ['a plain-HTTP IAM endpoint', { ...base, BROKER_IAM_ENDPOINT: 'http://iam.example.com' }, /BROKER_IAM_ENDPOINT/],
    ['the development source token', { ...base, BROKER_DEV_SOURCE_TOKEN: 'x' }, /outside development/],
    ['a lifetime ceiling above 3600', { ...base, BROKER_MAX_LIFETIME_SECONDS: '7200' }, /BROKER_MAX_LIFETIME_SECONDS/],
    ['a non-numeric lifetime ceiling', { ...base, BROKER_MAX_LIFETIME_SECONDS: '1h' }, /BROKER_MAX_LIFETIME_SECONDS/],
    ['a plain-HTTP issuer URL', { ...base, BROKER_ISSUER_URL: 'http://broker.example.com' }, /BROKER_ISSUER_URL/],
  ])('refuses %s', (_name, env, message) => {
    expect(() => readBrokerConfig(env)).toThrow(ConfigurationError);
    expect(() => readBrokerConfig(env)).toThrow(message);
  });
});

describe('development mode', () => {
  it('accepts the loopback emulator and the static source token', () => {
    const config = readBrokerConfig({
      ...base,
      BROKER_MODE: 'development',
      BROKER_IAM_ENDPOINT: 'http://127.0.0.1:8090/',
      BROKER_DEV_SOURCE_TOKEN: 'dev-token',
      BROKER_MAX_LIFETIME_SECONDS: '600',
    });
    expect(config).toMatchObject({
      mode: 'development',
      iamEndpoint: 'http://127.0.0.1:8090',
      maxLifetimeSeconds: 600,
      source: { kind: 'static-token', accessToken: 'dev-token' },
      network: { allowInsecureLoopback: true },
    });
  });

  it('still refuses plain HTTP to a non-loopback host', () => {
    expect(() => readBrokerConfig({ ...base, BROKER_MODE: 'development', BROKER_IAM_ENDPOINT: 'http://iam.example.com' })).toThrow(/BROKER_IAM_ENDPOINT/);
  });
});
