// Call Gemini (Vertex AI) with a token from the token broker, through Google's own libraries.
//
//   node gemini.mjs [--credentials FILE] [--project P] [--location L] [--model M]
//                   [--gemini-base-url URL] [--prompt TEXT]
//
// FILE is an external_account credential file whose token_url is the broker (written by
// `npm run -s admin -- external-account ...`); without --credentials, GOOGLE_APPLICATION_CREDENTIALS.
// google-auth-library reads the workload's OIDC token from the file's credential_source,
// exchanges it at the broker (RFC 8693) and refreshes it when it expires; @google/genai sends it
// to Gemini as its Bearer token. No broker code, no key.
//
// --gemini-base-url points @google/genai at another endpoint (a local Gemini emulator); without
// it, the real Vertex AI endpoint of --location. Prints the model's answer on stdout.
import { GoogleGenAI } from '@google/genai';
import { GoogleAuth } from 'google-auth-library';
import { parseArgs } from 'node:util';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

const { values: options } = parseArgs({
  options: {
    credentials: { type: 'string', default: process.env.GOOGLE_APPLICATION_CREDENTIALS },
    project: { type: 'string', default: process.env.GOOGLE_CLOUD_PROJECT },
    location: { type: 'string', default: process.env.GOOGLE_CLOUD_LOCATION ?? 'us-central1' },
    model: { type: 'string', default: 'gemini-2.5-flash' },
    'gemini-base-url': { type: 'string', default: process.env.GEMINI_BASE_URL },
    prompt: { type: 'string', default: 'Say hello' },
  },
});
if (!options.credentials || !options.project) {
  console.error('usage: node gemini.mjs --credentials FILE --project P (or GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT)');
  process.exit(2);
}

// The broker's answer is already the service account's token: the file has no
// service_account_impersonation_url, and the rule must allow the scope asked for here.
const auth = new GoogleAuth({ keyFile: options.credentials, scopes: [CLOUD_PLATFORM] });
const authClient = await auth.getClient(); // an IdentityPoolClient: exchanges at the broker on first use

const ai = new GoogleGenAI({
  vertexai: true,
  project: options.project,
  location: options.location,
  googleAuthOptions: { authClient },
  ...(options['gemini-base-url'] ? { httpOptions: { baseUrl: options['gemini-base-url'] } } : {}),
});
const response = await ai.models.generateContent({ model: options.model, contents: options.prompt });
console.log(response.text);
