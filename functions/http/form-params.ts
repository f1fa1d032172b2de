/**
 * Strict reading of an `application/x-www-form-urlencoded` token or introspection request (RFC 6749 §3.2,
 * SECURITY.md "The HTTP edge"). The framework's own parsers are switched off
 * (framework-body.ts); it keeps only the raw bytes, up to the body cap and never inflated, and we
 * parse them: ASCII only, every parameter once, each within its size limit. A token written to
 * a file (`echo "$TOKEN" > file`) ends in a newline, and Google's client libraries send a
 * `credential_source` file as it is: the token parameters lose their surrounding ASCII
 * whitespace here, before anything reads or fingerprints them, so one token has one form.
 */
import type { Request } from '@google-cloud/functions-framework';
import { DEFAULTS } from '../../shared/config/defaults';
import { BrokerError, invalidRequest } from '../../shared/errors';
import type { TokenParams } from '../../shared/token-params';
import { frameworkBodyFailure } from './framework-body';

const FORM_MEDIA_TYPE = /^application\/x-www-form-urlencoded\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;
const TOKEN_PARAMETERS = new Set(['subject_token', 'actor_token', 'assertion', 'client_assertion', 'token']);
/** Token parameters whose leading and trailing whitespace is dropped (`trimTokenWhitespace`). */
const TRIMMED_PARAMETERS = new Set(['subject_token', 'assertion', 'client_assertion', 'token']);
const TOKEN_WHITESPACE = new Set([' ', '\t', '\r', '\n']);
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

export function readFormParams(req: Request): TokenParams {
  checkContentType(req.headers['content-type']);
  checkContentEncoding(req.headers['content-encoding']);
  checkBodyRead(req);
  const body = rawBody(req);
  if (!PRINTABLE_ASCII.test(body)) throw invalidRequest('request body must be ASCII form encoding', 'malformed_body');
  return parseParams(body);
}

function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined || !FORM_MEDIA_TYPE.test(contentType.trim())) {
    throw invalidRequest('content type must be application/x-www-form-urlencoded', 'wrong_content_type');
  }
}

function checkContentEncoding(encoding: string | undefined): void {
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw invalidRequest('content encodings are not accepted', 'content_encoding');
  }
}

/** The body as the framework's (bounded, non-inflating) raw parser left it. */
function checkBodyRead(req: Request): void {
  const failure = frameworkBodyFailure(req);
  if (!failure) return;
  if (failure.type === 'entity.too.large') throw tooLarge();
  if (failure.type === 'encoding.unsupported') throw invalidRequest('content encodings are not accepted', 'content_encoding');
  throw invalidRequest('the request body could not be read', 'malformed_body');
}

const tooLarge = () => new BrokerError('request_too_large', `request body exceeds ${DEFAULTS.maxBodyBytes} bytes`, { reason: 'body_too_large' });

function rawBody(req: Request): string {
  const declared = Number(req.headers['content-length'] ?? 0);
  const raw = req.rawBody;
  if (declared > DEFAULTS.maxBodyBytes || (raw !== undefined && raw.length > DEFAULTS.maxBodyBytes)) {
    throw tooLarge();
  }
  return raw === undefined ? '' : raw.toString('latin1');
}

/**
 * Every name once (RFC 6749 §3.2: "MUST NOT be included more than once", whatever the values),
 * each value within its limit. A parameter sent without a value is then treated as omitted
 * (RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were omitted"),
 * and so is a token parameter that is only whitespace.
 */
function parseParams(body: string): TokenParams {
  const params = new Map<string, string>();
  const seen = new Set<string>();
  const form = new URLSearchParams(body);
  let count = 0;
  for (const [name, raw] of form) {
    if (++count > DEFAULTS.maxParameters) throw invalidRequest('too many parameters', 'too_many_parameters');
    if (name === '' || name.length > DEFAULTS.maxParameterNameLength) throw invalidRequest('malformed parameter name', 'malformed_body');
    if (seen.has(name)) throw repeatedParameter(name);
    seen.add(name);
    const value = TRIMMED_PARAMETERS.has(name) ? trimTokenWhitespace(raw) : raw;
    const limit = TOKEN_PARAMETERS.has(name) ? DEFAULTS.maxTokenBytes : DEFAULTS.maxParamBytes;
    if (value.length > limit) throw invalidRequest(`parameter ${safeName(name)} exceeds ${limit} bytes`, 'parameter_too_large');
    if (value !== '') params.set(name, value);
  }
  return params;
}

/**
 * A token without the spaces, tabs, CRs and LFs around it (a file's final newline). Whitespace
 * inside stays, and so does any other character (U+00A0 included): the compact-JWS format
 * check refuses them. A scan, not a regular expression: linear on any input.
 */
export function trimTokenWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && TOKEN_WHITESPACE.has(value.charAt(start))) start++;
  while (end > start && TOKEN_WHITESPACE.has(value.charAt(end - 1))) end--;
  return value.slice(start, end);
}

/**
 * RFC 6749 §3.2 forbids repeating a parameter. RFC 8693 §2.1 does allow several `audience`
 * parameters; the broker mints for one target, so it refuses them as an unusable target.
 */
function repeatedParameter(name: string): BrokerError {
  if (name === 'audience') return new BrokerError('invalid_target', 'one audience per request', { reason: 'multiple_audiences' });
  return invalidRequest(`parameter ${safeName(name)} is repeated`, 'duplicate_parameter');
}

/** A parameter name fit to echo in an error description (RFC 6749 §5.2 character set). */
function safeName(name: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(name) ? name : '(unprintable)';
}
