/**
 * The page development mode serves at `/demo/`: a web app of the `demo-web` entry that signs
 * its user in through the broker and shows the user's access token being served and
 * refreshed. Same origin as the broker, so the session cookie goes along with every call.
 * Element ids are stable: the browser test clicks and reads them.
 */
export const DEMO_WEB_APP = 'demo-web';
export const DEMO_PATH = '/demo/';

export function demoWebPage(): string {
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
  });
</script>
</body>
</html>
`;
}
