/**
 * @token-broker/client for Node: BrokerTokenClient (subject tokens from a file too). The
 * google-auth-library AuthClient is `@token-broker/client/google-auth`, so that this entry
 * loads without that optional peer.
 */
export * from './lib/public';
export { BrokerTokenClient } from './node/token-client';
export type { NodeBrokerClientOptions, NodeBrokerCredential, NodeSubjectTokenSource } from './node/file-source';
