/**
 * Entry point: registers the broker's HTTP functions with the Functions Framework. The
 * names equal `--target` and Terraform's `entry_point`.
 */
import { http } from '@google-cloud/functions-framework';
import { readBrokerConfig } from '../shared/config/environment';
import { loadBroker } from '../shared/load-broker';
import type { Broker } from '../shared/broker';
import { logEvent } from '../shared/log';
import { createBrokerFunction } from './broker';

let broker: Promise<Broker> | undefined;

/** The process-wide broker (configuration and key caches only; no per-request state). */
function brokerFromEnvironment(): Promise<Broker> {
  broker ??= Promise.resolve()
    .then(() => loadBroker(readBrokerConfig()))
    .then((loaded) => {
      logEvent('INFO', 'policy loaded', { policyVersion: loaded.policy.version, rules: loaded.policy.rules.length, source: loaded.policy.source });
      return loaded;
    })
    .catch((err: unknown) => {
      logEvent('ERROR', 'broker configuration refused', { detail: err instanceof Error ? err.message : String(err) });
      throw err;
    });
  return broker;
}

http('broker', createBrokerFunction({ getBroker: brokerFromEnvironment, issuerUrl: process.env.BROKER_ISSUER_URL || undefined }));
