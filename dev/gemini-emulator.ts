/**
 * Loopback stand-in for the Vertex AI Gemini `generateContent` endpoint.
 *
 * FOR TESTS AND LOCAL DEV MODE ONLY (binds 127.0.0.1, answers canned text).
 *
 * What it does:
 *  - `POST /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`,
 *    the URL @google/genai 2.32.0 builds in Vertex mode (`vertexai: true`,
 *    project + location given, `httpOptions.baseUrl` pointing here; the
 *    default apiVersion is v1beta1).
 *  - Authenticates `Authorization: Bearer` by asking the Google emulator, in
 *    process, what it issued (`lookup`). Missing / unknown / expired tokens
 *    get Vertex's 401 UNAUTHENTICATED; a token without the required scope gets
 *    403 PERMISSION_DENIED "Request had insufficient authentication scopes."
 *    (ErrorInfo reason ACCESS_TOKEN_SCOPE_INSUFFICIENT). Bodies are
 *    google.rpc.Status JSON like the real front end's.
 *  - Answers a valid `GenerateContentResponse`: one candidate whose text is
 *    deterministic (`[model] echo: <the request's text parts>`),
 *    `finishReason: "STOP"`, `usageMetadata` (≈4 characters per token),
 *    `modelVersion`, `createTime`, `responseId`.
 *  - `POST /{v1|v1beta}/models/{m}:generateContent`, the Gemini Developer API
 *    (generativelanguage.googleapis.com) with OAuth: a Bearer token with the
 *    `generative-language`, `generative-language.retriever` or `cloud-platform`
 *    scope (the scopes Google's OAuth guide for the Gemini API asks for; the
 *    exact list Google accepts per method is assumed). Same canned answer.
 *  - Signed-in users' tokens too, when `userTokens` is given: access tokens of
 *    the emulated sign-in provider (dev/oauth-provider-emulator.ts), looked up
 *    in process, accepted like Google accepts a user's OAuth token (live, with
 *    a scope above). Development mode passes them, so the /demo/ page can call
 *    Gemini with the user's own token.
 *  - CORS for `corsOrigins` (browsers calling from the broker's /demo/ page on
 *    another port): preflight `OPTIONS` → 204 with the allowed method and
 *    headers; every answer to a listed `Origin` carries
 *    `Access-Control-Allow-Origin`. Other origins get no CORS headers, so the
 *    browser blocks them (Google's APIs answer any origin; narrower here).
 *  - Honours the Google emulator's fault switches for `match: 'gemini'`.
 *
 * What it does NOT do: any model behaviour, streaming
 * (`:streamGenerateContent`), tools, safety ratings, system instructions,
 * token counting that matches Google's tokenizer, per-SA IAM
 * (`aiplatform.endpoints.predict`), quotas, or model/location validation.
 * CAB-downscoped tokens are refused with 401 (Credential Access Boundaries
 * only work with Cloud Storage; the exact Vertex reply for them is assumed).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import {
  applyFaults,
  bearerToken,
  closeServer,
  jsonReply,
  listen,
  notFoundPage,
  readRequest,
  recordOf,
  rpcError,
  unauthenticated,
  writeReply,
  CLOUD_PLATFORM_SCOPE,
  type GoogleEmulator,
  type RecordedRequest,
  type Reply,
} from './google-emulator';

// ─────────────────────────────────────────────────────────────────────────────
// Public API
// ─────────────────────────────────────────────────────────────────────────────

export interface GeminiEmulatorOptions {
  /** Where tokens come from; also supplies the clock and the fault switches. */
  googleEmulator: GoogleEmulator;
  /** Scope a token must carry; default https://www.googleapis.com/auth/cloud-platform. */
  requiredScope?: string;
  port?: number; // default 0 (ephemeral)
  /**
   * Tokens of a signed-in user (the emulated sign-in provider's access tokens): what is known
   * of a live one, else undefined. Without it only the Google emulator's tokens are accepted.
   */
  userTokens?: (accessToken: string) => UserToken | undefined;
  /** Origins answered with CORS headers (exact `scheme://host:port`); default none. */
  corsOrigins?: readonly string[];
}

/** A signed-in user's access token, as the sign-in provider knows it. */
export interface UserToken {
  scopes: readonly string[];
  expiresAt: number /*ms*/;
}

export interface GeminiEmulator {
  /** Base URL to give @google/genai as `httpOptions.baseUrl`. */
  readonly url: string;
  /** Every request received. */
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

// ─────────────────────────────────────────────────────────────────────────────
// Wire types (subset of the Vertex AI REST reference)
// ─────────────────────────────────────────────────────────────────────────────

export interface PartWire {
  text?: string;
  [other: string]: unknown;
}

export interface ContentWire {
  role?: string;
  parts: PartWire[];
}

export interface GenerateContentRequestWire {
  contents: ContentWire[];
  [other: string]: unknown;
}

export interface GenerateContentResponseWire {
  candidates: {
    content: { role: 'model'; parts: { text: string }[] };
    finishReason: 'STOP';
    avgLogprobs: number;
  }[];
  usageMetadata: {
    promptTokenCount: number;
    candidatesTokenCount: number;
    totalTokenCount: number;
    trafficType: 'ON_DEMAND';
    promptTokensDetails: { modality: 'TEXT'; tokenCount: number }[];
    candidatesTokensDetails: { modality: 'TEXT'; tokenCount: number }[];
  };
  modelVersion: string;
  createTime: string;
  responseId: string;
}

// ─────────────────────────────────────────────────────────────────────────────
// Internal types
// ─────────────────────────────────────────────────────────────────────────────

type ModelPath =
  | { api: 'vertex'; apiVersion: 'v1' | 'v1beta1'; project: string; location: string; model: string }
  | { api: 'developer'; apiVersion: 'v1' | 'v1beta'; model: string };

// ─────────────────────────────────────────────────────────────────────────────
// Server
// ─────────────────────────────────────────────────────────────────────────────

const AIPLATFORM_SERVICE = 'aiplatform.googleapis.com';
const GENERATIVE_LANGUAGE_SERVICE = 'generativelanguage.googleapis.com';
const GENERATE_CONTENT_PATH =
  /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):generateContent$/;
const DEVELOPER_GENERATE_CONTENT_PATH = /^\/(v1|v1beta)\/models\/([^/:]+):generateContent$/;
/** Scopes the Gemini Developer API takes with OAuth (cloud-platform included). */
export const DEVELOPER_API_SCOPES: readonly string[] = [
  'https://www.googleapis.com/auth/generative-language',
  'https://www.googleapis.com/auth/generative-language.retriever',
  CLOUD_PLATFORM_SCOPE,
];
const CORS_ALLOW_HEADERS = 'authorization, content-type, x-goog-api-client, x-goog-user-project';
const CORS_MAX_AGE_SECONDS = '600';

/** Starts the Gemini stand-in on 127.0.0.1. */
export async function startGeminiEmulator(opts: GeminiEmulatorOptions): Promise<GeminiEmulator> {
  const requests: RecordedRequest[] = [];
  const requiredScope = opts.requiredScope ?? CLOUD_PLATFORM_SCOPE;
  const tokens: TokenSources = { google: opts.googleEmulator, users: opts.userTokens };
  const corsOrigins = new Set(opts.corsOrigins ?? []);
  const server = createServer((req, res) => {
    if (allowCors(corsOrigins, req, res)) return;
    void serve(tokens, requiredScope, requests, req, res);
  });
  const url = await listen(server, opts.port ?? 0);
  return { url, requests, close: () => closeServer(server) };
}

interface TokenSources {
  google: GoogleEmulator;
  users: GeminiEmulatorOptions['userTokens'];
}

/**
 * CORS for a listed Origin: the allow-origin header on the answer to come, and the whole
 * answer (204) to a preflight. True when the request has been answered.
 */
function allowCors(origins: ReadonlySet<string>, req: IncomingMessage, res: ServerResponse): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || !origins.has(origin)) return false;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  if (req.method !== 'OPTIONS') return false;
  res.writeHead(204, {
    'access-control-allow-methods': 'POST',
    'access-control-allow-headers': CORS_ALLOW_HEADERS,
    'access-control-max-age': CORS_MAX_AGE_SECONDS,
    'content-length': '0',
  });
  res.end();
  req.resume();
  return true;
}

async function serve(
  tokens: TokenSources,
  requiredScope: string,
  requests: RecordedRequest[],
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const ctx = await readRequest(req);
    const path = ctx.method === 'POST' ? parseModelPath(ctx.url.pathname) : undefined;
    requests.push(recordOf(req, ctx, path ? 'gemini' : undefined));
    if (!path) return writeReply(res, notFoundPage(ctx.url.pathname));
    if (await applyFaults(tokens.google.faults, 'gemini', res)) return;
    const scopes = path.api === 'vertex' ? [requiredScope] : DEVELOPER_API_SCOPES;
    const denied = authorize(tokens, scopes, ctx.headers, path);
    writeReply(res, denied ?? generateContent(tokens.google, path, ctx.body));
  } catch (err) {
    writeReply(res, rpcError(500, 'INTERNAL', `Emulator bug: ${String(err)}`));
  }
}

function parseModelPath(pathname: string): ModelPath | undefined {
  const developer = DEVELOPER_GENERATE_CONTENT_PATH.exec(pathname);
  if (developer) {
    const [, apiVersion, model] = developer;
    if ((apiVersion !== 'v1' && apiVersion !== 'v1beta') || !model) return undefined;
    return { api: 'developer', apiVersion, model: decodeURIComponent(model) };
  }
  const m = GENERATE_CONTENT_PATH.exec(pathname);
  if (!m) return undefined;
  const [, apiVersion, project, location, model] = m;
  if ((apiVersion !== 'v1' && apiVersion !== 'v1beta1') || !project || !location || !model) return undefined;
  return { api: 'vertex', apiVersion, project: decodeURIComponent(project), location: decodeURIComponent(location), model: decodeURIComponent(model) };
}

function rpcMethod(path: ModelPath): string {
  return path.api === 'vertex'
    ? `google.cloud.aiplatform.${path.apiVersion}.PredictionService.GenerateContent`
    : `google.ai.generativelanguage.${path.apiVersion}.GenerativeService.GenerateContent`;
}

/**
 * undefined when the bearer token is live with one of `scopes`: a non-downscoped token of the
 * Google emulator, or a signed-in user's token; else the error reply.
 */
function authorize(tokens: TokenSources, scopes: readonly string[], headers: Record<string, string>, path: ModelPath): Reply | undefined {
  const method = rpcMethod(path);
  const service = path.api === 'vertex' ? AIPLATFORM_SERVICE : GENERATIVE_LANGUAGE_SERVICE;
  const token = bearerToken(headers);
  if (token === undefined) return unauthenticated(service, method, 'CREDENTIALS_MISSING');
  const issued = tokens.google.lookup(token);
  const known = issued?.kind === 'impersonated' ? issued : issued ? undefined : tokens.users?.(token);
  if (!known) return unauthenticated(service, method, 'ACCESS_TOKEN_TYPE_UNSUPPORTED');
  if (known.expiresAt <= tokens.google.now()) return unauthenticated(service, method, 'ACCESS_TOKEN_EXPIRED');
  if (!scopes.some((scope) => known.scopes.includes(scope))) return insufficientScopes(service, method, scopes[0] ?? CLOUD_PLATFORM_SCOPE);
  return undefined;
}

function insufficientScopes(service: string, method: string, requiredScope: string): Reply {
  return rpcError(
    403,
    'PERMISSION_DENIED',
    'Request had insufficient authentication scopes.',
    [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
        domain: 'googleapis.com',
        metadata: { service, method },
      },
    ],
    {
      'www-authenticate': `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="${requiredScope}"`,
    },
  );
}

// ─────────────────────────────────────────────────────────────────────────────
// generateContent
// ─────────────────────────────────────────────────────────────────────────────

function generateContent(google: GoogleEmulator, path: ModelPath, body: string): Reply {
  const prompt = promptText(body);
  if (typeof prompt !== 'string') return prompt;
  const answer = `[${path.model}] echo: ${prompt}`;
  const promptTokens = approxTokens(prompt);
  const answerTokens = approxTokens(answer);
  const response: GenerateContentResponseWire = {
    candidates: [{ content: { role: 'model', parts: [{ text: answer }] }, finishReason: 'STOP', avgLogprobs: -0.05 }],
    usageMetadata: {
      promptTokenCount: promptTokens,
      candidatesTokenCount: answerTokens,
      totalTokenCount: promptTokens + answerTokens,
      trafficType: 'ON_DEMAND',
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: promptTokens }],
      candidatesTokensDetails: [{ modality: 'TEXT', tokenCount: answerTokens }],
    },
    modelVersion: path.model,
    createTime: new Date(google.now()).toISOString(),
    responseId: createHash('sha256').update(body).digest('base64url').slice(0, 22),
  };
  return jsonReply(200, response);
}

/** The text parts of `contents`, joined with newlines; or the 400 Vertex would send. */
function promptText(body: string): string | Reply {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body) as unknown;
  } catch {
    return badRequest('Invalid JSON payload received. Unexpected token.');
  }
  const contents = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['contents'] : undefined;
  if (!Array.isArray(contents) || contents.length === 0) {
    return badRequest('Unable to submit request because it has an empty contents field.');
  }
  const texts: string[] = [];
  for (const content of contents) {
    const parts = typeof content === 'object' && content !== null ? (content as Record<string, unknown>)['parts'] : undefined;
    if (!Array.isArray(parts) || parts.length === 0) {
      return badRequest('Unable to submit request because it must include at least one parts field, which describes the prompt input.');
    }
    for (const part of parts) {
      const text = typeof part === 'object' && part !== null ? (part as Record<string, unknown>)['text'] : undefined;
      if (typeof text === 'string') texts.push(text);
    }
  }
  return texts.join('\n');
}

function badRequest(message: string): Reply {
  return rpcError(400, 'INVALID_ARGUMENT', message);
}

function approxTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}
