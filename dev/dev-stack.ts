/**
 * The whole broker on loopback with embedded defaults: the demo OIDC issuer, the emulator
 * of Google's APIs, and the real `broker` function served by the Functions Framework on
 * 127.0.0.1. `npm start` and the HTTP tests both run it, so what the tests exercise is what
 * a developer runs.
 *
 * The broker's issuer URL is `BROKER_ISSUER_URL` from `env` when set (an https URL or a
 * loopback one; trailing slashes dropped), else the loopback URL it listens on. As in
 * production it is the RFC 8414 `issuer`, an accepted `audience` and the `aud` client
 * assertions must carry; here it is also the `aud` of the demo issuer's tokens and the
 * audience the development policy accepts from the demo issuer.
 *
 * The Google emulator mints for the built-in development service accounts and for every
 * service account the loaded policy names (rules' targets and delegates).
 *
 * The Gemini emulator (`gemini`) takes the Google emulator's tokens and, like Google takes a
 * user's OAuth token, the emulated sign-in provider's: the /demo/ page calls it from the
 * browser with the signed-in user's token, so it answers CORS for the broker's origin.
 */
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBrokerFunction } from '../functions/broker';
import type { Broker } from '../shared/broker';
import type { CompiledPolicy } from '../shared/policy/compiled-policy';
import { readIssuerUrl } from '../shared/config/environment';
import { ConfigurationError } from '../shared/errors';
import { AuditLog } from '../shared/audit/audit-log';
import { loadBroker, type ResilienceOverrides } from '../shared/load-broker';
import type { CacheWiring } from '../shared/cache/create-token-cache';
import { startDemoIssuer, type DemoIssuer } from './demo-issuer';
import { startGoogleEmulator, type GoogleEmulator } from './google-emulator';
import { startOAuthProviderEmulator, type OAuthProviderEmulator } from './oauth-provider-emulator';
import { DEMO_PATH, demoPageCsp, demoWebPage } from './demo-web-page';
import { DEMO_CLIENT_PATH, demoClientBundle } from './demo-assets';
import { startGeminiEmulator, type GeminiEmulator } from './gemini-emulator';
import type { Request, Response } from '@google-cloud/functions-framework';

export const DEV_SOURCE_TOKEN = 'dev-broker-source-token';
/** The Google Cloud project development mode pretends to run in (audit log and trace names). */
export const DEV_PROJECT = 'token-broker-dev';
/** Service accounts the Google emulator always knows, whatever the policy names. */
/**
 * The key that wraps the Firestore cache's data keys in development mode (in place of Cloud
 * KMS) when BROKER_CACHE_LOCAL_KEY does not name another: fixed, so that several local
 * instances read each other's cache entries. Never accepted outside development mode.
 */
export const DEV_CACHE_KEY = createHash('sha256').update('token-broker development cache key').digest('base64');
/** The Gemini API key development mode keeps in the emulated Secret Manager (the emulated Gemini API accepts it). */
export const DEV_GEMINI_API_KEY = 'AIzaSy-token-broker-development-key-000';
/** Where it is: the secret version development mode points BROKER_GEMINI_API_KEY_SECRET at. */
export const DEV_GEMINI_API_KEY_SECRET = `projects/${DEV_PROJECT}/secrets/gemini-api-key/versions/latest`;
/** The demo web app's OAuth client at the emulated sign-in provider; its secret lives in the emulated Secret Manager. */
export const DEV_WEB_CLIENT = { id: 'demo-web.apps.token-broker-dev', secret: 'dev-web-client-secret-not-for-production' } as const;
export const DEV_WEB_CLIENT_SECRET = `projects/${DEV_PROJECT}/secrets/demo-web-client-secret/versions/latest`;
export const DEV_SERVICE_ACCOUNTS = [
  'gemini-caller@token-broker-dev.iam.gserviceaccount.com',
  'reader@token-broker-dev.iam.gserviceaccount.com',
];

export interface DevStackOptions {
  /** Broker port; 0 picks a free one. */
  port?: number;
  /** The demo issuer's port; 0 (the default) picks a free one. `npm start` uses its port + 1. */
  issuerPort?: number;
  /** Use this policy file instead of the embedded development policy. */
  policyFile?: string;
  /** Policy text, given the demo issuer's URL, the broker's issuer URL and the emulated sign-in provider's URL (tests). */
  policyText?: (urls: { issuer: string; broker: string; provider: string }) => string;
  /** The emulated sign-in provider's settings (tests shorten lifetimes) and the broker's refresh margin. */
  signIn?: { accessTokenSeconds?: number; refreshTokenRotation?: boolean; refreshMarginSeconds?: number };
  /** The emulator's built-in service accounts (default DEV_SERVICE_ACCOUNTS); the policy's are added. */
  serviceAccounts?: string[];
  /** Environment overrides passed to the configuration reader (BROKER_ISSUER_URL sets the issuer URL). */
  env?: NodeJS.ProcessEnv;
  /** Where audit entries go (default stdout; nowhere when BROKER_LOG=silent). */
  auditTransport?: Writable;
  /** Act as if behind Google's front end (believe X-Forwarded-For); default false locally. */
  trustForwardedFor?: boolean;
  /** The broker's clock (tests). */
  now?: () => number;
  /** Deadline, retry and circuit-breaker settings (tests shorten them). */
  resilience?: ResilienceOverrides;
  /** Token-cache wiring (tests hand in a store built on their own KMS or Firestore). */
  cache?: CacheWiring;
}

export interface DevStack {
  /** Where the broker listens (loopback). */
  readonly url: string;
  readonly tokenUrl: string;
  /** The broker's issuer URL: BROKER_ISSUER_URL when set, else `url`. */
  readonly issuerUrl: string;
  readonly policyFile: string;
  readonly issuer: DemoIssuer;
  readonly google: GoogleEmulator;
  /** The emulated sign-in provider (OAuth 2.0 / OpenID Connect) of the development web app. */
  readonly oauth: OAuthProviderEmulator;
  /** The emulated Gemini API (Vertex and Developer API generateContent); the /demo/ page calls it. */
  readonly gemini: GeminiEmulator;
  /** Resolves once the policy is loaded; rejects with its error. */
  readonly broker: Promise<Broker>;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

let registered = 0;

export async function startDevStack(options: DevStackOptions = {}): Promise<DevStack> {
  const configuredIssuerUrl = readIssuerUrl(options.env?.BROKER_ISSUER_URL, true);
  const google = await startGoogleEmulator({
    serviceAccounts: options.serviceAccounts ?? DEV_SERVICE_ACCOUNTS,
    callerTokens: [DEV_SOURCE_TOKEN],
    geminiApiKeys: [DEV_GEMINI_API_KEY],
    secrets: {
      [DEV_GEMINI_API_KEY_SECRET.replace(/\/versions\/[^/]+$/, '')]: DEV_GEMINI_API_KEY,
      [DEV_WEB_CLIENT_SECRET.replace(/\/versions\/[^/]+$/, '')]: DEV_WEB_CLIENT.secret,
    },
    // On the broker's clock: after a jump in time, minted tokens live as long as before.
    now: options.now,
  });
  let brokerPromise: Promise<Broker> | undefined;
  const getBroker = () => brokerPromise ?? Promise.reject(new Error('broker not ready'));
  const audit = new AuditLog({ projectId: DEV_PROJECT, transport: options.auditTransport ?? defaultAuditTransport() });
  const name = `broker-dev-${++registered}`;
  let geminiUrl: string | undefined; // set once the Gemini emulator listens, before startDevStack returns
  http(name, withDemoPage(createBrokerFunction({ getBroker, audit, trustForwardedFor: options.trustForwardedFor ?? false }), () => geminiUrl));
  const server: Server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuerUrl = configuredIssuerUrl ?? url;

  const oauth = await startOAuthProviderEmulator({
    clients: [{ clientId: DEV_WEB_CLIENT.id, clientSecret: DEV_WEB_CLIENT.secret, redirectUris: [`${issuerUrl}/v1/callback`] }],
    accessTokenSeconds: options.signIn?.accessTokenSeconds,
    refreshTokenRotation: options.signIn?.refreshTokenRotation,
    now: options.now,
  });
  const gemini = await startGeminiEmulator({
    googleEmulator: google,
    userTokens: (token) => {
      const issued = oauth.issued().accessTokens.find((t) => t.token === token && t.state === 'active');
      return issued && { scopes: issued.scope.split(' '), expiresAt: issued.expiresAt };
    },
    corsOrigins: [...new Set([url, new URL(issuerUrl).origin])],
  });
  geminiUrl = gemini.url;
  const issuer = await startDemoIssuer({ port: options.issuerPort, defaultAudience: issuerUrl, defaultClaims: { repository: 'acme/demo', repository_owner: 'acme', ref: 'refs/heads/main' } });
  const policyFile = options.policyFile ?? (await writeDevPolicy({ issuer: issuer.issuer, broker: issuerUrl, provider: oauth.issuer }, options.policyText));
  brokerPromise = loadBroker({
    BROKER_MODE: 'development',
    BROKER_POLICY_FILE: policyFile,
    BROKER_IAM_ENDPOINT: google.url,
    BROKER_STS_ENDPOINT: google.url,
    BROKER_GEMINI_ENDPOINT: google.url,
    BROKER_SECRET_MANAGER_ENDPOINT: google.url,
    BROKER_GEMINI_API_KEY_SECRET: DEV_GEMINI_API_KEY_SECRET,
    BROKER_DEV_SOURCE_TOKEN: DEV_SOURCE_TOKEN,
    ...sharedStateEnv(options.env ?? {}),
    ...options.env,
    BROKER_ISSUER_URL: issuerUrl,
  }, { audit, now: options.now, resilience: options.resilience, cache: options.cache, signIn: { refreshMarginSeconds: options.signIn?.refreshMarginSeconds } }).then((broker) => {
    // Before anyone sees the broker, so no exchange can reach the emulator ahead of its accounts.
    // Development mode loads its policy once; there is no reload to follow.
    google.addServiceAccounts(policyServiceAccounts(broker.policy));
    return broker;
  });
  brokerPromise.catch(() => undefined); // surfaced to callers of `broker` and to requests

  return {
    url,
    tokenUrl: `${url}/token`,
    issuerUrl,
    policyFile,
    issuer,
    google,
    oauth,
    gemini,
    broker: brokerPromise,
    audit,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([issuer.close(), google.close(), oauth.close(), gemini.close(), brokerPromise?.then((b) => b.close(), () => undefined)]);
    },
  };
}

/**
 * With BROKER_CACHE=firestore, development mode's shared state: the Firestore emulator only
 * (FIRESTORE_EMULATOR_HOST must name it; development mode never reaches a real database), the
 * development project unless one is named, and DEV_CACHE_KEY unless a key is named.
 */
export function sharedStateEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.BROKER_CACHE !== 'firestore') return {};
  if (!process.env.FIRESTORE_EMULATOR_HOST) {
    throw new ConfigurationError('BROKER_CACHE=firestore in development mode uses the Cloud Firestore emulator: set FIRESTORE_EMULATOR_HOST (npm start starts one when it is unset)');
  }
  return {
    BROKER_FIRESTORE_PROJECT: env.GOOGLE_CLOUD_PROJECT ? undefined : DEV_PROJECT,
    ...(env.BROKER_CACHE_KMS_KEY ? {} : { BROKER_CACHE_LOCAL_KEY: DEV_CACHE_KEY }),
  };
}

/** Every service account a policy's rules grant or delegate through, in document order, once each. */
export function policyServiceAccounts(policy: Pick<CompiledPolicy, 'rules'>): string[] {
  const accounts = new Set<string>();
  for (const { grant } of policy.rules) {
    accounts.add(grant.serviceAccount);
    for (const delegate of grant.delegates) accounts.add(delegate);
  }
  return [...accounts];
}

function defaultAuditTransport(): Writable {
  if (process.env.BROKER_LOG !== 'silent') return process.stdout;
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/** Development mode's demo web app page at /demo/ and the client library it loads, in front of the broker function. */
function withDemoPage(broker: (req: Request, res: Response) => Promise<void>, geminiUrl: () => string | undefined) {
  return async (req: Request, res: Response): Promise<void> => {
    if (req.path === DEMO_PATH && req.method === 'GET') {
      const page = { geminiUrl: geminiUrl() };
      res.status(200).set({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Security-Policy': demoPageCsp(page) }).send(demoWebPage(page));
      return;
    }
    if (req.path === DEMO_CLIENT_PATH && req.method === 'GET') {
      const script = await demoClientBundle().catch((err: unknown) => {
        process.stderr.write(`token-broker: cannot bundle the client library for ${DEMO_CLIENT_PATH}: ${err instanceof Error ? err.message : String(err)}\n`);
        return undefined;
      });
      if (script === undefined) res.status(500).set({ 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).send('the client library did not build: see the dev server\'s output\n');
      else res.status(200).set({ 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }).send(script);
      return;
    }
    return broker(req, res);
  };
}

async function writeDevPolicy(urls: { issuer: string; broker: string; provider: string }, policyText?: DevStackOptions['policyText']): Promise<string> {
  const text = policyText
    ? policyText(urls)
    : (await readFile(join(__dirname, 'dev-policy.template.yaml'), 'utf8'))
        .replaceAll('{{DEMO_ISSUER}}', urls.issuer)
        .replaceAll('{{BROKER_URL}}', urls.broker)
        .replaceAll('{{SIGN_IN_PROVIDER}}', urls.provider)
        .replaceAll('{{DEV_WEB_CLIENT_ID}}', DEV_WEB_CLIENT.id)
        .replaceAll('{{DEV_WEB_CLIENT_SECRET}}', DEV_WEB_CLIENT_SECRET);
  const file = join(await mkdtemp(join(tmpdir(), 'token-broker-')), 'policy.yaml');
  await writeFile(file, text, { mode: 0o600 });
  return file;
}
