/**
 * The client library as the /demo/ page loads it: client/src/browser.ts bundled by esbuild for
 * browsers (an IIFE that sets `window.TokenBrokerClient`, jose included), served by
 * development mode at DEMO_CLIENT_PATH. Built from source on the first request, so the page
 * always runs the library as it is in the work tree, then kept in memory for the life of the
 * process (every dev stack of a test run shares it). A failed build is not kept: the next
 * request tries again.
 */
import { join } from 'node:path';

export const DEMO_CLIENT_PATH = '/demo/client.js';
/** The global the bundle defines: `new TokenBrokerClient.BrokerTokenClient({ … })`. */
export const DEMO_CLIENT_GLOBAL = 'TokenBrokerClient';

const BROWSER_ENTRY = join(__dirname, '..', 'client', 'src', 'browser.ts');

let bundle: Promise<string> | undefined;

/** The browser bundle's JavaScript, built once. */
export function demoClientBundle(): Promise<string> {
  bundle ??= buildBundle().catch((err: unknown) => {
    bundle = undefined;
    throw err;
  });
  return bundle;
}

async function buildBundle(): Promise<string> {
  // Loaded on use: esbuild is a development dependency, and most dev stacks never serve the page.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [BROWSER_ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: DEMO_CLIENT_GLOBAL,
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error('esbuild produced no output for the client library');
  return output.text;
}
