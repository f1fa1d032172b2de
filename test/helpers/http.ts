/** Plain fetch helpers for black-box tests over 127.0.0.1. */
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../../shared/oauth-uris';

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

export async function post(url: string, body: string | Record<string, string>, headers: Record<string, string> = FORM): Promise<Answer> {
  const encoded = typeof body === 'string' ? body : new URLSearchParams(body).toString();
  return answer(await fetch(url, { method: 'POST', headers, body: encoded }));
}

export async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* leave empty: the test asserts on what it expects */
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** A token-exchange form with the given subject token and extra parameters. */
export function exchangeForm(subjectToken: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
    subject_token_type: TOKEN_TYPE_JWT,
    subject_token: subjectToken,
    ...extra,
  };
}
