/**
 * Entry point: registers the broker's HTTP functions with the Functions Framework. The
 * names equal `--target` and Terraform's `entry_point`.
 *
 * The framework serves nothing until this module is loaded, so it loads only the HTTP edge.
 * The broker itself (policy compiler, verifiers, CEL, …) loads with the first request, and
 * the Google client libraries only when the configuration and the request need them (see
 * "Cold start" in docs/decisions.md; test/functions/entry-module-graph.int.test.ts guards it).
 */
import { http } from '@google-cloud/functions-framework';
import type { Broker } from '../shared/broker';
import { AuditLog } from '../shared/audit/audit-log';
import { createBrokerFunction } from './broker';
import { DEFAULTS } from '../shared/config/defaults';

/** After a failed load, requests fail closed for this long before loading is tried again. */
const RELOAD_AFTER_FAILURE_MS = DEFAULTS.reloadAfterFailureMs;

/** The audit trail; @google-cloud/logging's LogSync loads on the first entry, off the cold-start path. */
export const audit = new AuditLog({ projectId: process.env.GOOGLE_CLOUD_PROJECT || process.env.GCLOUD_PROJECT || undefined });

/** shared/load-broker and everything it imports, loaded on the first request. */
function brokerModule(): typeof import('../shared/load-broker') {
  return require('../shared/load-broker') as typeof import('../shared/load-broker');
}

let broker: Promise<Broker> | undefined;
/** Every broker this module loaded (a failed load is retried), for closeBroker. */
const loaded: Array<Promise<Broker>> = [];
let failedAt = -Infinity;

/**
 * The process-wide broker (configuration and key caches only; no per-request state). A load
 * that fails answers every request with 500 server_error, and is retried at most once per
 * RELOAD_AFTER_FAILURE_MS, so a policy fixed behind a mounted file or secret is picked up.
 */
function brokerFromEnvironment(): Promise<Broker> {
  if (broker && failedAt > -Infinity && Date.now() - failedAt >= RELOAD_AFTER_FAILURE_MS) broker = undefined;
  broker ??= Promise.resolve()
    .then(() => brokerModule().loadBroker(process.env, { audit })) // audits policy_loaded / policy_load_failed
    .then((loaded) => {
      failedAt = -Infinity;
      return loaded;
    })
    .catch((err: unknown) => {
      failedAt = Date.now();
      throw err;
    });
  if (!loaded.includes(broker)) loaded.push(broker);
  return broker;
}

http('broker', createBrokerFunction({ getBroker: brokerFromEnvironment, audit }));

/**
 * Releases the process-wide broker (its Firestore listeners and clients, background work), for
 * whoever loaded this module and is done with it: tests, or a shutdown hook.
 */
export async function closeBroker(): Promise<void> {
  const all = [...loaded];
  loaded.length = 0;
  broker = undefined;
  await Promise.all(all.map((one) => one.then((b) => b.close(), () => undefined)));
}
