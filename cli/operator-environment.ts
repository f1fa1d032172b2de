/**
 * What the operator commands that act on the broker's shared state (`sessions`, `deny`) share:
 * the broker's own configuration, which must keep that state in Firestore, and an audit log
 * whose entries (`operator_action`) go to the command's stderr in the broker's format.
 */
import { Writable } from 'node:stream';
import { AuditLog } from '../shared/audit/audit-log';
import { readBrokerConfig, type BrokerConfig, type CacheConfig } from '../shared/config/environment';
import { ConfigurationError } from '../shared/errors';

export type FirestoreCache = Extract<CacheConfig, { kind: 'firestore' }>;

/**
 * The broker's configuration from `env`, refused unless its state is in Firestore: `why` says
 * what needs it ("sessions are shared only through Firestore"), `failure` makes the command's error.
 */
export function firestoreBrokerConfig(env: NodeJS.ProcessEnv, why: string, failure: (message: string) => Error): BrokerConfig & { cache: FirestoreCache } {
  let config: BrokerConfig;
  try {
    config = readBrokerConfig(env);
  } catch (err) {
    if (err instanceof ConfigurationError) throw failure(`the broker's configuration is refused: ${err.message}`);
    throw err;
  }
  if (config.cache.kind !== 'firestore') {
    throw failure(`${why} (BROKER_CACHE=${config.cache.kind}): `
      + 'run with the broker\'s environment, BROKER_CACHE=firestore and its key (BROKER_CACHE_KMS_KEY, or BROKER_CACHE_LOCAL_KEY in development)');
  }
  return config as BrokerConfig & { cache: FirestoreCache };
}

/** The audit log of an operator command: the broker's entry format, written through `write` (stderr). */
export function operatorAuditLog(env: NodeJS.ProcessEnv, write: (text: string) => void): AuditLog {
  const transport = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      write(String(chunk));
      done();
    },
  });
  return new AuditLog({ projectId: env.GOOGLE_CLOUD_PROJECT || env.GCLOUD_PROJECT || undefined, transport });
}
