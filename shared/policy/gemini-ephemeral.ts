/**
 * A rule's `gemini_ephemeral` grant: what a Gemini Live API ephemeral token (Gemini Developer
 * API `v1alpha/auth_tokens`) may be used for. Checked when the policy loads, rendered per
 * request into the body `@google/genai` 2.x's `authTokens.create` sends:
 *
 *   { uses, expireTime, newSessionExpireTime,
 *     bidiGenerateContentSetup: { model: "models/…", generationConfig: {…}, systemInstruction: {…}, … } }
 *
 * `lock` holds LiveConnectConfig fields (the SDK's names); the generation settings among them
 * go under `generationConfig`, the others beside `model`, as the SDK's
 * `liveConnectConstraintsToMldev` places them. No `fieldMask` is sent: with constraints and no
 * mask, Google locks the whole LiveConnectConfig (the fields the rule sets to its values, every
 * other one to its default), so a caller holding the token cannot change anything the rule
 * did not allow. That is the SDK's "Case 2", the strictest.
 */
import { DEFAULTS } from '../config/defaults';

/** LiveConnectConfig fields that @google/genai maps into `bidiGenerateContentSetup.generationConfig`. */
export const LIVE_GENERATION_CONFIG_FIELDS = [
  'responseModalities', 'temperature', 'topP', 'topK', 'maxOutputTokens', 'mediaResolution', 'seed', 'speechConfig',
  'thinkingConfig', 'enableAffectiveDialog', 'translationConfig',
] as const;

/** LiveConnectConfig fields that @google/genai maps into `bidiGenerateContentSetup` itself (Gemini Developer API). */
export const LIVE_SETUP_FIELDS = [
  'systemInstruction', 'tools', 'sessionResumption', 'inputAudioTranscription', 'outputAudioTranscription', 'realtimeInputConfig',
  'contextWindowCompression', 'proactivity', 'safetySettings',
] as const;

/** Every field a rule's `lock` may set. */
export const LIVE_LOCK_FIELDS: readonly string[] = [...LIVE_GENERATION_CONFIG_FIELDS, ...LIVE_SETUP_FIELDS];

/** A model id (`gemini-live-2.5-flash-preview`) or resource name (`models/…`). */
export const GEMINI_MODEL_PATTERN = /^(?:models\/)?[a-z0-9][a-z0-9.-]{0,127}$/;

/** What a rule's `gemini_ephemeral` grants, with defaults applied. */
export interface GeminiEphemeralSpec {
  /** Always `models/…`. */
  readonly model: string;
  readonly uses: number;
  readonly expireSeconds: number;
  readonly newSessionExpireSeconds: number;
  /** LiveConnectConfig fields, as the rule wrote them. */
  readonly lock: Readonly<Record<string, unknown>>;
}

export interface GeminiEphemeralDocument {
  model: string;
  uses?: number;
  expire_seconds?: number;
  new_session_expire_seconds?: number;
  lock?: Record<string, unknown>;
}

export function compileGeminiEphemeral(doc: GeminiEphemeralDocument): GeminiEphemeralSpec {
  const expireSeconds = doc.expire_seconds ?? DEFAULTS.geminiEphemeralExpireSeconds;
  return Object.freeze({
    model: doc.model.startsWith('models/') ? doc.model : `models/${doc.model}`,
    uses: doc.uses ?? 1,
    expireSeconds,
    newSessionExpireSeconds: Math.min(doc.new_session_expire_seconds ?? DEFAULTS.geminiEphemeralNewSessionExpireSeconds, expireSeconds),
    lock: Object.freeze(structuredClone(doc.lock ?? {})),
  });
}

/** `auth_tokens.create` request body (what @google/genai's `authTokens.create` sends). */
export interface AuthTokenRequestWire {
  uses: number;
  expireTime: string;
  newSessionExpireTime: string;
  bidiGenerateContentSetup: Record<string, unknown> & { model: string };
}

export function renderAuthTokenRequest(spec: GeminiEphemeralSpec, nowMs: number): AuthTokenRequestWire {
  const setup: Record<string, unknown> & { model: string } = { model: spec.model };
  const generationConfig: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(spec.lock)) {
    if ((LIVE_GENERATION_CONFIG_FIELDS as readonly string[]).includes(field)) generationConfig[field] = structuredClone(value);
    // Text becomes a user Content, as the SDK's tContent makes it.
    else if (field === 'systemInstruction' && typeof value === 'string') setup[field] = { parts: [{ text: value }], role: 'user' };
    else setup[field] = structuredClone(value);
  }
  if (Object.keys(generationConfig).length > 0) setup.generationConfig = generationConfig;
  return {
    uses: spec.uses,
    expireTime: new Date(nowMs + spec.expireSeconds * 1000).toISOString(),
    newSessionExpireTime: new Date(nowMs + spec.newSessionExpireSeconds * 1000).toISOString(),
    bidiGenerateContentSetup: setup,
  };
}
