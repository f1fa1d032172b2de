/** One broker request for a credential: where it goes and what it carries. Built anew for every attempt. */
import { signAssertion } from './client-assertion';
import type { Settings } from './settings';
import { readSubjectToken } from './subject-token';
import {
  API_KEY_HEADER,
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  CSRF_HEADER,
  GRANT_TYPE_CLIENT_CREDENTIALS,
  GRANT_TYPE_JWT_BEARER,
  GRANT_TYPE_TOKEN_EXCHANGE,
  SESSION_TOKEN_PATH,
  TOKEN_PATH,
  TOKEN_TYPE_JWT,
} from './protocol';

export interface BrokerRequest {
  url: string;
  init: RequestInit;
}

/** `signal` ends a subject-token fetch (the attempt's deadline or the caller's abort). */
export async function buildRequest(settings: Settings, signal?: AbortSignal): Promise<BrokerRequest> {
  const { credential, brokerUrl } = settings;
  if (credential.kind === 'session') {
    return {
      url: `${brokerUrl}${SESSION_TOKEN_PATH}?app=${encodeURIComponent(credential.app)}`,
      init: { method: 'POST', credentials: 'include', headers: { [CSRF_HEADER]: '1', accept: 'application/json' }, cache: 'no-store' },
    };
  }
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const form: Record<string, string> = {};
  switch (credential.kind) {
    case 'subject_token':
      form.grant_type = GRANT_TYPE_TOKEN_EXCHANGE;
      form.subject_token_type = credential.subjectTokenType ?? TOKEN_TYPE_JWT;
      form.subject_token = await readSubjectToken(credential.subjectToken, settings.fetch, signal);
      break;
    case 'client_secret':
      form.grant_type = GRANT_TYPE_CLIENT_CREDENTIALS;
      if (credential.authMethod === 'client_secret_post') {
        form.client_id = credential.clientId;
        form.client_secret = credential.clientSecret;
      } else {
        headers.authorization = basicAuthorization(credential.clientId, credential.clientSecret);
      }
      break;
    case 'private_key_jwt':
      form.grant_type = GRANT_TYPE_CLIENT_CREDENTIALS;
      form.client_assertion_type = CLIENT_ASSERTION_TYPE_JWT_BEARER;
      form.client_assertion = await signAssertion(credential, settings.issuerUrl, settings.clock.now());
      break;
    case 'jwt_bearer':
      form.grant_type = GRANT_TYPE_JWT_BEARER;
      form.assertion = await signAssertion(credential, settings.issuerUrl, settings.clock.now());
      break;
    case 'api_key':
      form.grant_type = GRANT_TYPE_CLIENT_CREDENTIALS;
      headers[API_KEY_HEADER] = credential.apiKey;
      break;
  }
  return {
    url: `${brokerUrl}${TOKEN_PATH}`,
    // Credentials never go into the URL: the broker refuses them there.
    init: { method: 'POST', headers, body: new URLSearchParams({ ...form, ...settings.params }).toString(), credentials: 'omit', cache: 'no-store', redirect: 'error' },
  };
}

/** RFC 6749 §2.3.1: the id and the secret are form-URL-encoded before base64. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
  return `Basic ${btoa(`${encode(clientId)}:${encode(clientSecret)}`)}`;
}
