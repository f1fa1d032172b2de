/** Protocol identifiers and paths, named once (the broker's own are in docs/api.md). */
export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const GRANT_TYPE_CLIENT_CREDENTIALS = 'client_credentials';
export const GRANT_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
/** A Gemini Live API ephemeral token: one session each, so the client never caches it. */
export const TOKEN_TYPE_GEMINI_EPHEMERAL = 'urn:x-token-broker:token-type:gemini-ephemeral';
export const CLIENT_ASSERTION_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export const TOKEN_PATH = '/token';
export const SESSION_TOKEN_PATH = '/v1/session/token';
/** The header the sign-in endpoints require of a page (CSRF defence). */
export const CSRF_HEADER = 'X-Token-Broker-CSRF';
export const API_KEY_HEADER = 'x-goog-api-key';
