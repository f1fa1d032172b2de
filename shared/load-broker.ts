/** Builds a Broker from configuration: reads and compiles the policy, wires the minter. */
import { readFile } from 'node:fs/promises';
import { createBroker, type Broker } from './broker';
import type { BrokerConfig } from './config/environment';
import { createImpersonatedMinter } from './mint/impersonated-minter';
import { createTokenCache, type CacheWiring } from './cache/create-token-cache';
import { logEvent } from './log';
import { compilePolicy } from './policy/compile-policy';
import { parsePolicyText } from './policy/parse-document';
import { PolicyLoadError } from './policy/policy-error';
import type { CompiledPolicy } from './policy/compiled-policy';
import type { NetworkPolicy } from './identity/bounded-fetch';

export async function loadPolicyFile(file: string, network: NetworkPolicy, maxLifetimeSeconds?: number): Promise<CompiledPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PolicyLoadError(file, [{ path: '(file)', reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}` }]);
  }
  return compilePolicy(parsePolicyText(text, file), { source: file, network, maxLifetimeSeconds });
}

export async function loadBroker(config: BrokerConfig, cacheWiring: CacheWiring = {}): Promise<Broker> {
  const policy = await loadPolicyFile(config.policyFile, config.network, config.maxLifetimeSeconds);
  const cache = await createTokenCache(config.cache, {
    onEvent: (event) => logEvent(event.type === 'refreshed' ? 'INFO' : 'WARNING', `token cache: ${event.type}`, { ...event }),
    ...cacheWiring,
  });
  return createBroker({
    policy,
    cache,
    minter: createImpersonatedMinter({ endpoint: config.iamEndpoint, source: config.source }),
    brokerAudiences: brokerAudiences(config.issuerUrl),
  });
}

/** The broker's own identifiers: its issuer URL and token endpoint URLs. */
export function brokerAudiences(issuerUrl: string | undefined): string[] {
  if (issuerUrl === undefined) return [];
  return [issuerUrl, `${issuerUrl}/token`, `${issuerUrl}/v1/token`];
}
