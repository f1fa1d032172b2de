/** Protocol identifiers, named once. */
export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
export const GRANT_TYPE_CLIENT_CREDENTIALS = 'client_credentials';
export const GRANT_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** The broker's own token type: a Gemini Live API ephemeral token (an `auth_tokens/…` name), not an OAuth token. */
export const TOKEN_TYPE_GEMINI_EPHEMERAL = 'urn:x-token-broker:token-type:gemini-ephemeral';
/** The scope of every Google Cloud API; Google STS requires it of a token it downscopes. */
export const SCOPE_CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
