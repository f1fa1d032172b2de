/** The Node entry's extra subject-token source: a file, read at every request (rotating tokens). */
import { readFile } from 'node:fs/promises';
import { SubjectTokenError } from '../lib/errors';
import type { BrokerClientOptions, BrokerCredential, SubjectTokenCredential, SubjectTokenSource } from '../lib/options';

export type NodeSubjectTokenSource = SubjectTokenSource | { file: string };
export type NodeBrokerCredential = Exclude<BrokerCredential, SubjectTokenCredential> | SubjectTokenCredential<NodeSubjectTokenSource>;
export type NodeBrokerClientOptions = BrokerClientOptions<NodeBrokerCredential>;

/** The options with a `{ file }` source turned into a function that reads it. */
export function withFileSource(options: NodeBrokerClientOptions): BrokerClientOptions {
  const credential = options?.credential;
  if (credential?.kind !== 'subject_token') return options as BrokerClientOptions;
  const source = credential.subjectToken;
  if (typeof source !== 'object' || source === null || !('file' in source)) return options as BrokerClientOptions;
  if (typeof source.file !== 'string' || source.file === '') throw new TypeError('credential.subjectToken.file must be a path');
  const path = source.file;
  return { ...options, credential: { ...credential, subjectToken: () => readTokenFile(path) } };
}

async function readTokenFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new SubjectTokenError(`cannot read ${path}`, { cause });
  }
}
