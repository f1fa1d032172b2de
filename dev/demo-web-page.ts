/**
 * The page development mode serves at `/demo/`: a web app of the `demo-web` entry that signs
 * its user in through the broker and shows the user's access token being served and
 * refreshed. Same origin as the broker, so the session cookie goes along with every call.
 * Element ids are stable: the browser tests click and read them.
 *
 * "Ask Gemini" (when development mode runs the Gemini emulator) is the client library at work
 * in a browser: the page loads its browser bundle (DEMO_CLIENT_PATH, dev/demo-assets.ts), makes
 * a `BrokerTokenClient` with the `session` credential, and calls the Gemini Developer API's
 * generateContent on the emulator (another loopback port, which answers CORS for the broker's
 * origin) with the user's access token as `Authorization: Bearer`. The token is the user's own
 * Google token, scope generative-language.retriever, as the broker serves it from the session.
 */
import { DEMO_CLIENT_GLOBAL, DEMO_CLIENT_PATH } from './demo-assets';

export const DEMO_WEB_APP = 'demo-web';
export const DEMO_PATH = '/demo/';
/** The model the page asks (the emulator echoes any). */
export const DEMO_GEMINI_MODEL = 'gemini-2.5-flash';

export interface DemoWebPageOptions {
  /** The Gemini emulator's base URL; without it the page has no "Ask Gemini" part. */
  geminiUrl?: string;
}

/** The page's Content-Security-Policy: its own scripts, the inline one, and calls to itself and Gemini. */
export function demoPageCsp(options: DemoWebPageOptions = {}): string {
  const connect = options.geminiUrl ? `'self' ${new URL(options.geminiUrl).origin}` : "'self'";
  return `default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src ${connect}`;
}

export function demoWebPage(options: DemoWebPageOptions = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>token-broker demo web app</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
  button { font: inherit; margin-right: .5rem; }
  dt { font-weight: 600; } dd { margin: 0 0 .5rem 0; font-family: ui-monospace, monospace; word-break: break-all; }
  #error { color: #b00020; }
</style>
</head>
<body>
<h1>Demo web app</h1>
<p>Sign in through the broker (the emulated Google consent page), then ask for your access token.
The broker keeps the refresh token; this page only ever sees short access tokens.</p>
<p>
  <a id="sign-in" href="/v1/login?app=${DEMO_WEB_APP}&amp;return_to=">Sign in</a>
  <button id="get-token" type="button">Get my token</button>
  <label><input id="auto" type="checkbox"> every 5 s</label>
  <button id="sign-out" type="button">Sign out</button>
</p>
<dl>
  <dt>Status</dt><dd id="status">signed out (or not asked yet)</dd>
  <dt>Access token (first 16 characters)</dt><dd id="token">—</dd>
  <dt>Expires in (s)</dt><dd id="expires-in">—</dd>
  <dt>Scope</dt><dd id="scope">—</dd>
  <dt>Distinct tokens seen</dt><dd id="distinct">0</dd>
  <dt>Error</dt><dd id="error"></dd>
</dl>
${options.geminiUrl ? geminiSection() : ''}
<script>
  const app = ${JSON.stringify(DEMO_WEB_APP)};
  const signIn = document.getElementById('sign-in');
  signIn.href = signIn.href + encodeURIComponent(location.origin + ${JSON.stringify(DEMO_PATH)});
  const seen = new Set();
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  async function call(path) {
    return fetch(path + '?app=' + app, { method: 'POST', credentials: 'include', headers: { 'x-token-broker-csrf': '1' } });
  }
  async function getToken() {
    const res = await call('/v1/session/token');
    const body = await res.json();
    if (!res.ok) { show('status', 'signed out'); show('error', body.error + ': ' + body.error_description); return; }
    seen.add(body.access_token);
    show('status', 'signed in');
    show('token', body.access_token.slice(0, 16));
    show('expires-in', String(body.expires_in));
    show('scope', body.scope);
    show('distinct', String(seen.size));
    show('error', '');
  }
  let timer;
  document.getElementById('get-token').addEventListener('click', getToken);
  document.getElementById('auto').addEventListener('change', (event) => {
    clearInterval(timer);
    if (event.target.checked) timer = setInterval(getToken, 5000);
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    const res = await call('/v1/logout');
    show('status', res.status === 204 ? 'signed out' : 'sign-out failed: ' + res.status);
    show('token', '—'); show('expires-in', '—'); show('scope', '—');
    if (typeof broker !== 'undefined') broker.invalidate();
  });
${options.geminiUrl ? geminiScript(options.geminiUrl) : ''}</script>
</body>
</html>
`;
}

function geminiSection(): string {
  return `<h2>Ask Gemini</h2>
<p>The client library (<code>${DEMO_CLIENT_PATH}</code>, its browser bundle) gets your access token
from the broker with the <code>session</code> credential and calls the development Gemini
emulator's <code>generateContent</code> with it, straight from this page.</p>
<p>
  <input id="prompt" size="40" value="Hello from the demo page">
  <button id="ask-gemini" type="button">Ask Gemini</button>
</p>
<dl>
  <dt>Gemini status</dt><dd id="gemini-status">not asked yet</dd>
  <dt>Bearer token sent (first 16 characters)</dt><dd id="gemini-token">—</dd>
  <dt>Answer</dt><dd id="gemini-answer"></dd>
  <dt>Gemini error</dt><dd id="gemini-error"></dd>
</dl>
<script src="${DEMO_CLIENT_PATH}"></script>
`;
}

function geminiScript(geminiUrl: string): string {
  const endpoint = `${geminiUrl}/v1beta/models/${DEMO_GEMINI_MODEL}:generateContent`;
  return `
  const broker = new ${DEMO_CLIENT_GLOBAL}.BrokerTokenClient({ brokerUrl: location.origin, credential: { kind: 'session', app } });
  async function askGemini() {
    show('gemini-status', 'asking'); show('gemini-answer', ''); show('gemini-error', '');
    try {
      show('gemini-token', (await broker.getAccessToken()).slice(0, 16)); // cached: broker.fetch below reuses it
      const res = await broker.fetch(${JSON.stringify(endpoint)}, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: document.getElementById('prompt').value }] }] }),
      });
      const body = await res.json();
      if (!res.ok) {
        show('gemini-status', 'refused');
        show('gemini-error', res.status + ' ' + (body.error ? body.error.status + ': ' + body.error.message : ''));
        return;
      }
      const parts = (body.candidates && body.candidates[0] && body.candidates[0].content.parts) || [];
      show('gemini-answer', parts.map((part) => part.text || '').join(''));
      show('gemini-status', 'answered');
    } catch (error) {
      if (error instanceof ${DEMO_CLIENT_GLOBAL}.BrokerError) {
        show('gemini-status', error.error === 'login_required' ? 'signed out' : 'refused by the broker');
        show('gemini-error', error.error + ': ' + (error.errorDescription || ''));
      } else {
        show('gemini-status', 'failed');
        show('gemini-error', (error && error.code ? error.code + ': ' : '') + String(error && error.message || error));
      }
    }
  }
  document.getElementById('ask-gemini').addEventListener('click', askGemini);
`;
}
