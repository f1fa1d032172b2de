/**
 * The package as users get it: client/build.mjs builds dist/ (esbuild spawns its binary, hence
 * an integration test); the browser entry bundles for platform 'browser' with no Node
 * built-in; the built output loads through require and import in a fresh Node process.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const CLIENT = join(__dirname, '../../client');

beforeAll(() => {
  execFileSync(process.execPath, [join(CLIENT, 'build.mjs')], { stdio: 'pipe' });
}, 60_000);

it('the browser entry bundles for browsers: no Node built-in, jose included', async () => {
  const result = await build({ entryPoints: [join(CLIENT, 'src/browser.ts')], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent', metafile: true });
  const inputs = Object.keys(result.metafile.inputs);
  expect(inputs.some((path) => path.includes('node_modules/jose/'))).toBe(true);
  expect(inputs.filter((path) => path.startsWith('node:') || /client\/src\/node\//.test(path))).toEqual([]);
  expect(result.outputFiles[0]!.text).not.toMatch(/from\s*["']node:|require\(["'](node:)?(fs|crypto|path|os)["']\)/);
});

it('a Node built-in in the browser entry would fail the bundle (the check can fail)', async () => {
  await expect(build({ stdin: { contents: "import { readFile } from 'node:fs/promises'; export { readFile };", resolveDir: CLIENT, loader: 'ts' }, bundle: true, platform: 'browser', write: false, logLevel: 'silent' })).rejects.toThrow(/node:fs\/promises/);
});

it('the built dist loads via require and import, one class per package', () => {
  const script = `
    const cjs = require('@token-broker/client');
    const cjsBrowser = require('@token-broker/client/browser');
    const { BrokerAuthClient } = require('@token-broker/client/google-auth');
    import('@token-broker/client').then(async (esm) => {
      const esmBrowser = await import('@token-broker/client/browser');
      const esmAuth = await import('@token-broker/client/google-auth');
      const client = new esm.BrokerTokenClient({ brokerUrl: 'https://broker.example.test', credential: { kind: 'api_key', apiKey: 'k' } });
      console.log(JSON.stringify({
        cjs: typeof cjs.BrokerTokenClient, cjsBrowser: typeof cjsBrowser.BrokerError, cjsAuth: typeof BrokerAuthClient,
        esm: typeof esm.BrokerTokenClient, esmAuth: typeof esmAuth.BrokerAuthClient,
        sharedErrorClass: esm.BrokerError === esmBrowser.BrokerError,
        getAccessToken: typeof client.getAccessToken,
      }));
    });`;
  // Resolve the package by its own name, as a user would: through a self-reference from inside client/.
  const output = execFileSync(process.execPath, ['-e', script], { cwd: CLIENT, encoding: 'utf8' });
  expect(JSON.parse(output)).toEqual({ cjs: 'function', cjsBrowser: 'function', cjsAuth: 'function', esm: 'function', esmAuth: 'function', sharedErrorClass: true, getAccessToken: 'function' });
});
