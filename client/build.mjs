/**
 * Builds @token-broker/client into dist/:
 *   dist/esm/*.mjs    ES modules, bundled with shared chunks (one copy of each class for all entries)
 *   dist/cjs/*.js     CommonJS, one file per source file
 *   dist/types/*.d.ts declarations (tsc --emitDeclarationOnly)
 * jose and google-auth-library stay external. The browser entry is checked to import no Node
 * built-in. Run from anywhere: `node client/build.mjs` or `npm run build` in client/.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const entries = ['index', 'browser', 'google-auth'];
const common = { target: 'es2022', sourcemap: true, logLevel: 'warning', absWorkingDir: root };

rmSync(dist, { recursive: true, force: true });

await build({
  ...common,
  entryPoints: entries.map((name) => join(src, `${name}.ts`)),
  outdir: join(dist, 'esm'),
  format: 'esm',
  platform: 'neutral',
  bundle: true,
  splitting: true,
  packages: 'external',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
});

await build({
  ...common,
  entryPoints: sourceFiles(src),
  outdir: join(dist, 'cjs'),
  outbase: src,
  format: 'cjs',
  platform: 'node',
  bundle: false,
});

// The browser entry as a browser bundle: esbuild refuses a Node built-in it cannot resolve.
await build({ ...common, entryPoints: [join(src, 'browser.ts')], bundle: true, platform: 'browser', format: 'esm', write: false });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--emitDeclarationOnly'], { stdio: 'inherit' });

console.log(`built ${relative(process.cwd(), dist) || 'dist'}`);

function sourceFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}
