/** @token-broker/client/google-auth: BrokerAuthClient, for Google's Node libraries (needs google-auth-library 10). */
export { BrokerAuthClient, type AuthClientOptions } from './node/auth-client';
