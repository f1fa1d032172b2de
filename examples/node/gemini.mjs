// Call Gemini (Vertex AI) with a token from the token broker, through the broker's client library
// (@token-broker/client) and Google's @google/genai.
//
//   node examples/node/gemini.mjs --broker-url URL --audience RULE --subject-token-file FILE --project P
//                                 [--location L] [--model M] [--gemini-base-url URL] [--prompt TEXT]
//   node examples/node/gemini.mjs --credentials FILE --project P [...]
//
// BrokerTokenClient reads the workload's OIDC token from FILE at every broker request (a
// projected Kubernetes token, a CI job's token: rotation just works), exchanges it at the broker
// (RFC 8693) for the rule RULE, caches the token and refreshes it ahead of expiry. BrokerAuthClient
// hands it to @google/genai as its googleAuthOptions.authClient, so genai sends it to Gemini as
// its Bearer token.
//
// --credentials FILE takes the broker URL, the rule and the token file from an external_account
// file (`npm run -s admin -- external-account ...` writes it; the other examples use the same
// file), so every example runs with the same flags; the three flags above override it.
// --gemini-base-url points @google/genai at another endpoint (a local Gemini emulator); without
// it, the real Vertex AI endpoint of --location. Prints the model's answer on stdout.
import { GoogleGenAI } from '@google/genai';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { require as tsxRequire } from 'tsx/cjs/api';

// The client library from this repository's TypeScript source, compiled on load by tsx (a
// devDependency of the repository), so plain `node` runs this file from a checkout, no build
// step. In your own project, with the package installed:
//   import { BrokerTokenClient } from '@token-broker/client';
//   import { BrokerAuthClient } from '@token-broker/client/google-auth';
const { BrokerTokenClient } = tsxRequire('../../client/src/index.ts', import.meta.url);
const { BrokerAuthClient } = tsxRequire('../../client/src/google-auth.ts', import.meta.url);

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

const { values: options } = parseArgs({
  options: {
    'broker-url': { type: 'string', default: process.env.BROKER_URL },
    audience: { type: 'string', default: process.env.BROKER_AUDIENCE },
    'subject-token-file': { type: 'string', default: process.env.BROKER_SUBJECT_TOKEN_FILE },
    credentials: { type: 'string', default: process.env.GOOGLE_APPLICATION_CREDENTIALS },
    project: { type: 'string', default: process.env.GOOGLE_CLOUD_PROJECT },
    location: { type: 'string', default: process.env.GOOGLE_CLOUD_LOCATION ?? 'us-central1' },
    model: { type: 'string', default: 'gemini-2.5-flash' },
    'gemini-base-url': { type: 'string', default: process.env.GEMINI_BASE_URL },
    prompt: { type: 'string', default: 'Say hello' },
  },
});

const broker = { brokerUrl: options['broker-url'], audience: options.audience, tokenFile: options['subject-token-file'] };
if (options.credentials) {
  const file = JSON.parse(await readFile(options.credentials, 'utf8'));
  broker.brokerUrl ??= String(file.token_url ?? '').replace(/\/token$/, '');
  broker.audience ??= file.audience;
  broker.tokenFile ??= file.credential_source?.file;
}
if (!broker.brokerUrl || !broker.audience || !broker.tokenFile || !options.project) {
  console.error('usage: node gemini.mjs (--broker-url URL --audience RULE --subject-token-file FILE | --credentials FILE) --project P');
  process.exit(2);
}

const tokens = new BrokerTokenClient({
  brokerUrl: broker.brokerUrl,
  credential: { kind: 'subject_token', subjectToken: { file: broker.tokenFile } },
  audience: broker.audience, // the rule; it must allow the scope asked for here
  scope: CLOUD_PLATFORM,
});
const authClient = new BrokerAuthClient(tokens);

const ai = new GoogleGenAI({
  vertexai: true,
  project: options.project,
  location: options.location,
  googleAuthOptions: { authClient },
  ...(options['gemini-base-url'] ? { httpOptions: { baseUrl: options['gemini-base-url'] } } : {}),
});
const response = await ai.models.generateContent({ model: options.model, contents: options.prompt });
console.log(response.text);
