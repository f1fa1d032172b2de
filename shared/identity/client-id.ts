/**
 * What may name a registered client: 1–128 of `A-Z a-z 0-9 . _ : -`, and never a URL. OIDC
 * issuers are URLs, and an assertion is told apart from an identity token by its `iss`
 * (RFC 8725 §3.12), so a client id must not be one: `http-gateway` is a client id,
 * `https:x` is not. The policy schema, the admin CLI and assertion verification all ask here.
 */
/** Spelled out case by case (no `i` flag), so the JSON Schema generated from it means the same. */
export const CLIENT_ID_PATTERN = /^(?![Hh][Tt][Tt][Pp][Ss]?:)[A-Za-z0-9._:-]{1,128}$/;

export const CLIENT_ID_RULE = '1–128 of A-Z a-z 0-9 . _ : - and not a URL';

export function isValidClientId(id: unknown): id is string {
  return typeof id === 'string' && CLIENT_ID_PATTERN.test(id);
}
