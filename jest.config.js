/**
 * Two projects, told apart by file name:
 *   unit         test/**\/*.test.ts (except *.int.test.ts): pure logic, in-process. No Firestore,
 *                emulator, Java, child process, server or network: test/unit-environment.ts fails
 *                a test that tries. No global setup.
 *   integration  test/**\/*.int.test.ts: the Firestore emulator (started once by
 *                test/global-setup.ts, or named by FIRESTORE_EMULATOR_HOST), loopback servers,
 *                the dev stack, child processes, Terraform checks.
 * `npm test` runs both; `npm run test:unit` and `npm run test:integration` run one. Those two
 * end with `--passWithNoTests=false` (jest's default) because `--selectProjects` takes every
 * word after it as a project name: the flag ends the list, so paths may follow
 * (`npm run test:unit -- test/policy`).
 */
const INTEGRATION = '\\.int\\.test\\.ts$';

const common = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // jose, openid-client and oauth4webapi ship ESM only: let the transform turn them into CommonJS for jest.
  transformIgnorePatterns: ['node_modules/(?!(jose|openid-client|oauth4webapi)/)'],
  setupFiles: ['<rootDir>/test/setup-env.ts'],
};

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 20000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', INTEGRATION],
      testEnvironment: '<rootDir>/test/unit-environment.ts',
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};
