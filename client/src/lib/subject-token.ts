/** Reading a subject token from its source: a string, a URL to GET, or a function. */
import { MAX_BODY_BYTES } from './defaults';
import { SubjectTokenError } from './errors';
import type { SubjectTokenSource } from './options';
import { readLimited } from './read-limited';

export async function readSubjectToken(source: SubjectTokenSource, fetchImpl: typeof fetch, signal?: AbortSignal): Promise<string> {
  const raw = typeof source === 'string' ? source : typeof source === 'function' ? await callSource(source) : await fetchSubjectToken(source, fetchImpl, signal);
  const token = typeof raw === 'string' ? raw.trim() : '';
  if (token === '') throw new SubjectTokenError('the source gave no token');
  return token;
}

async function callSource(source: () => string | Promise<string>): Promise<string> {
  try {
    return await source();
  } catch (cause) {
    if (cause instanceof SubjectTokenError) throw cause;
    throw new SubjectTokenError('the subject token function failed', { cause });
  }
}

async function fetchSubjectToken(source: { url: string; headers?: Record<string, string>; jsonField?: string }, fetchImpl: typeof fetch, signal: AbortSignal | undefined): Promise<string> {
  let text: string;
  try {
    const response = await fetchImpl(source.url, { method: 'GET', headers: source.headers, redirect: 'error', ...(signal ? { signal } : {}) });
    text = await readLimited(response, MAX_BODY_BYTES);
    if (!response.ok) throw new SubjectTokenError(`GET ${source.url} answered ${response.status}`);
  } catch (cause) {
    if (cause instanceof SubjectTokenError) throw cause;
    throw new SubjectTokenError(`GET ${source.url} failed`, { cause });
  }
  if (source.jsonField === undefined) return text;
  return jsonMember(text, source.jsonField);
}

function jsonMember(text: string, field: string): string {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new SubjectTokenError('the answer is not JSON', { cause });
  }
  const value = typeof document === 'object' && document !== null && Object.hasOwn(document, field) ? (document as Record<string, unknown>)[field] : undefined;
  if (typeof value !== 'string') throw new SubjectTokenError(`the answer has no string member "${field}"`);
  return value;
}
