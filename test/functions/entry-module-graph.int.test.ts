/**
 * What the deployed entry point loads (issue 18, cold start): the framework waits for
 * functions/index.ts before it serves, so that module loads the HTTP edge only; the broker
 * loads with the first request, and the Google client libraries only when the configuration
 * and the request need them. Each case runs in a fresh Node process (tsx compiles the sources
 * as the build does) and lists the packages in require.cache, which dynamic imports fill too.
 * A static import of one of these libraries, anywhere in the graph, fails the case.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const ENV = {
  PATH: process.env.PATH,
  METADATA_SERVER_DETECTION: 'none',
  BROKER_CACHE: 'none',
  BROKER_POLICY_FILE: join(ROOT, 'docs', 'examples', 'github-actions.yaml'),
};

/** Libraries no request of this configuration (no Firestore, no KMS, no web apps) may load. */
const NEVER_WITHOUT_STATE = [
  '@google-cloud/firestore', '@google-cloud/kms', '@google-cloud/secret-manager', 'google-gax', '@grpc/grpc-js',
  '@google/genai', 'openid-client', 'google-auth-library',
];
/** Libraries the first request needs (policy parse and compile, token checks), not the entry module. */
const FIRST_REQUEST = ['jose', 'zod', 'yaml', '@bufbuild/cel', '@bufbuild/protobuf'];

/** Loads functions/index.ts (and, with `request`, sends one refused exchange); returns what was loaded. */
function loaded(request: boolean): { packages: string[]; files: string[]; answer?: string } {
  const script = `
    const send = ${request};
    require('./functions/index.ts');
    const report = (answer) => {
      const files = Object.keys(require.cache).map((f) => f.split('\\\\').join('/'));
      const packages = [...new Set(files.map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f)?.[1]).filter(Boolean))];
      process.stderr.write('GRAPH ' + JSON.stringify({ packages, files: files.filter((f) => f.includes('/node_modules/@google-cloud/logging/')), answer }) + '\\n');
    };
    if (!send) report();
    else {
      const { getTestServer } = require('@google-cloud/functions-framework/testing');
      const server = getTestServer('broker');
      server.listen(0, '127.0.0.1', async () => {
        const res = await fetch('http://127.0.0.1:' + server.address().port + '/token', {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
          body: 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&subject_token=a.b.c',
        });
        report(res.status + ' ' + (await res.text()));
        server.closeAllConnections();
        server.close();
      });
    }`;
  const child = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: ROOT, env: ENV, encoding: 'utf8', timeout: 30_000 });
  const line = /^GRAPH (.*)$/m.exec(child.stderr)?.[1];
  if (child.status !== 0 || !line) throw new Error(`child failed (${child.status}): ${child.stderr.slice(-2000)}`);
  return JSON.parse(line) as { packages: string[]; files: string[]; answer?: string };
}

describe('the entry module (BROKER_CACHE=none, a policy without web apps)', () => {
  it('loads the framework and the HTTP edge, not the broker libraries or any Google client library', () => {
    const { packages, files } = loaded(false);
    expect(packages).toContain('@google-cloud/functions-framework');
    expect(packages.filter((name) => [...NEVER_WITHOUT_STATE, ...FIRST_REQUEST].includes(name))).toEqual([]);
    expect(files).toEqual([]); // not even LogSync: it loads with the first audit entry
  });

  it('answers a refused exchange with an audit entry, loading LogSync but not the Logging package, gRPC, Firestore, KMS, google-auth-library, @google/genai or openid-client', () => {
    const { packages, files, answer } = loaded(true);
    expect(answer).toMatch(/^400 .*invalid_grant/);
    expect(packages).toEqual(expect.arrayContaining(FIRST_REQUEST));
    expect(packages.filter((name) => NEVER_WITHOUT_STATE.includes(name))).toEqual([]);
    expect(files).toContain(`${ROOT}/node_modules/@google-cloud/logging/build/src/log-sync.js`);
    expect(files).not.toContain(`${ROOT}/node_modules/@google-cloud/logging/build/src/index.js`);
  });
});
