/** What both entries export. */
export { BrokerTokenClient } from './token-client';
export { BrokerAbortError, BrokerClientError, BrokerError, BrokerResponseError, BrokerUnreachableError, SubjectTokenError, type BrokerClientErrorCode } from './errors';
export type {
  ApiKeyCredential,
  BrokerClientOptions,
  BrokerCredential,
  BrokerToken,
  ClientSecretCredential,
  JwtBearerCredential,
  RequestOptions,
  Clock,
  PrivateKeyJwtCredential,
  RetryOptions,
  SessionCredential,
  SubjectTokenCredential,
  SubjectTokenSource,
} from './options';
export { TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_GEMINI_EPHEMERAL, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT } from './protocol';
