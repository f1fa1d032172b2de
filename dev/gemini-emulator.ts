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

interface ModelPath {
  apiVersion: 'v1' | 'v1beta1';
  project: string;
  location: string;
  model: string;
}

// ─────────────────────────────────────────────────────────────────────────────
// Server
// ─────────────────────────────────────────────────────────────────────────────

const AIPLATFORM_SERVICE = 'aiplatform.googleapis.com';
const GENERATE_CONTENT_PATH =
  /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):generateContent$/;

/** Starts the Gemini stand-in on 127.0.0.1. */
export async function startGeminiEmulator(opts: GeminiEmulatorOptions): Promise<GeminiEmulator> {
  const requests: RecordedRequest[] = [];
  const requiredScope = opts.requiredScope ?? CLOUD_PLATFORM_SCOPE;
  const server = createServer((req, res) => {
    void serve(opts.googleEmulator, requiredScope, requests, req, res);
  });
  const url = await listen(server, opts.port ?? 0);
  return { url, requests, close: () => closeServer(server) };
}

async function serve(
  google: GoogleEmulator,
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
    if (await applyFaults(google.faults, 'gemini', res)) return;
    const denied = authorize(google, requiredScope, ctx.headers, path);
    writeReply(res, denied ?? generateContent(google, path, ctx.body));
  } catch (err) {
    writeReply(res, rpcError(500, 'INTERNAL', `Emulator bug: ${String(err)}`));
  }
}

function parseModelPath(pathname: string): ModelPath | undefined {
  const m = GENERATE_CONTENT_PATH.exec(pathname);
  if (!m) return undefined;
  const [, apiVersion, project, location, model] = m;
  if ((apiVersion !== 'v1' && apiVersion !== 'v1beta1') || !project || !location || !model) return undefined;
  return { apiVersion, project: decodeURIComponent(project), location: decodeURIComponent(location), model: decodeURIComponent(model) };
}

function rpcMethod(path: ModelPath): string {
  return `google.cloud.aiplatform.${path.apiVersion}.PredictionService.GenerateContent`;
}

/** undefined when the bearer token is a live, non-downscoped token with `requiredScope`; else the error reply. */
function authorize(
  google: GoogleEmulator,
  requiredScope: string,
  headers: Record<string, string>,
  path: ModelPath,
): Reply | undefined {
  const method = rpcMethod(path);
  const token = bearerToken(headers);
  if (token === undefined) return unauthenticated(AIPLATFORM_SERVICE, method, 'CREDENTIALS_MISSING');
  const issued = google.lookup(token);
  if (!issued || issued.kind !== 'impersonated') return unauthenticated(AIPLATFORM_SERVICE, method, 'ACCESS_TOKEN_TYPE_UNSUPPORTED');
  if (issued.expiresAt <= google.now()) return unauthenticated(AIPLATFORM_SERVICE, method, 'ACCESS_TOKEN_EXPIRED');
  if (!issued.scopes.includes(requiredScope)) return insufficientScopes(method, requiredScope);
  return undefined;
}

function insufficientScopes(method: string, requiredScope: string): Reply {
  return rpcError(
    403,
    'PERMISSION_DENIED',
    'Request had insufficient authentication scopes.',
    [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
        domain: 'googleapis.com',
        metadata: { service: AIPLATFORM_SERVICE, method },
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
