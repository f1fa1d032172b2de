/**
 * Headless Chromium for page tests: Debian's chromium (BROKER_TEST_CHROMIUM, which .ci/run sets,
 * else /usr/bin/chromium) driven by playwright-core, and a page whose requests, script errors
 * and HTTP errors are recorded for the test to assert on.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const chromiumPath = process.env.BROKER_TEST_CHROMIUM || (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

/** `describe`, or `describe.skip` after a loud warning naming `suite` when there is no Chromium. */
export function describeWithChromium(suite: string): jest.Describe {
  if (chromiumPath) return describe;
  console.warn(`${suite}: SKIPPED — no Chromium (BROKER_TEST_CHROMIUM is unset and /usr/bin/chromium is absent). Install Debian's: apt-get install -y --no-install-recommends chromium (.ci/run does this), or set BROKER_TEST_CHROMIUM to a Chromium executable.`);
  return describe.skip;
}

export interface WatchedPage {
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Every URL the page requested. */
  readonly requested: string[];
  /** Uncaught script errors and console errors (HTTP errors aside: those are in httpErrors). */
  readonly pageErrors: string[];
  /** `status path` of every answer of 400 or more. */
  readonly httpErrors: string[];
}

export async function launchWatchedPage(): Promise<WatchedPage> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  const watched: WatchedPage = { browser, context, page, requested: [], pageErrors: [], httpErrors: [] };
  context.on('request', (request) => watched.requested.push(request.url()));
  page.on('pageerror', (err) => watched.pageErrors.push(err.message));
  // HTTP errors are counted from the responses themselves (Chromium also logs each as a console error).
  page.on('console', (message) => { if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) watched.pageErrors.push(message.text()); });
  context.on('response', (response) => { if (response.status() >= 400) watched.httpErrors.push(`${response.status()} ${new URL(response.url()).pathname}`); });
  return watched;
}
