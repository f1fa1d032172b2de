/** Builds a Broker from configuration: reads and compiles the policy, wires the minter. */
import { readFile } from 'node:fs/promises';
import { brokerAudiences } from './broker-audiences';
import { createBroker, type Broker } from './broker';
import { readBrokerConfig, type BrokerConfig } from './config/environment';
import { DEFAULTS } from './config/defaults';
import { ConfigurationError } from './errors';
import { createImpersonatedMinter, createSourceClient } from './mint/impersonated-minter';
import type { UpstreamResilience } from './mint/resilient-call';
import { createGeminiEphemeralIssuer } from './outputs/gemini-ephemeral';
import { createTokenCache, keyWrapperFor, type CacheWiring } from './cache/create-token-cache';
import { EnvelopeCipher } from './cache/envelope';
import { createSecretValueSource, type SecretValueSource } from './mint/secret-manager';
import { createProviderClient } from './sign-in/provider';
import { createSignIn } from './sign-in/sign-in';
import { createFirestoreSessionVault, createMemorySessionVault } from './sign-in/session-vault';
import { createFirestoreLoginAttemptStore, createMemoryLoginAttemptStore } from './sign-in/login-attempts';
import { openFirestore } from './state/firestore';
import { randomUUID } from 'node:crypto';
import { createFirestoreReplayStore, createMemoryReplayStore } from './identity/replay-store';
import { FailureThrottle } from './identity/failure-throttle';
import { SecretVerifier, verifySecret } from './identity/secret-hash';
import { limitConcurrency } from './concurrency';
import { createFirestoreRateLimiter, createMemoryRateLimiter } from './limits/rate-limiter';
import { createFirestoreIssuedTokenStore, createMemoryIssuedTokenStore } from './introspection/issued-tokens';
import type { AuditSink } from './audit/audit-sink';
import { cacheAuthEvent, keyAuthEvent, recordAuthEvent } from './audit/auth-events';
import { compilePolicy } from './policy/compile-policy';
import { parsePolicyText } from './policy/parse-document';
import { PolicyLoadError } from './policy/policy-error';
import type { CompiledPolicy } from './policy/compiled-policy';
import type { NetworkPolicy } from './config/network-policy';
import type { IssuerKeySettings } from './identity/key-source';
import { wireDenyList } from './operator/deny-wiring';
import type { DenyList } from './operator/deny-list';

export interface LoadOptions {
  audit?: AuditSink;
  /** Clock (ms) for everything time-based: tests travel in time with it. Default Date.now. */
  now?: () => number;
  cache?: CacheWiring;
  /** Deadline, retry and breaker settings (tests shorten them). */
  resilience?: ResilienceOverrides;
  /** User sign-in settings (tests shorten the refresh margin). */
  signIn?: { refreshMarginSeconds?: number };
  /** The operator's deny-list; default Firestore's (BROKER_CACHE=firestore), else an empty in-memory one (shared/operator/deny-wiring.ts). */
  denyList?: DenyList;
}

export interface ResilienceOverrides {
  requestDeadlineMs?: number;
  upstream?: Partial<UpstreamResilience>;
  /** Issuers' key caches: fetch timeout, cooldown, age and staleness bounds. */
  keys?: IssuerKeySettings;
}

/** The Gemini ephemeral-token output: its own source client, loaded (like the minter's) on first use. */
function geminiIssuer(config: BrokerConfig, options: { now?: () => number; resilience?: ResilienceOverrides }) {
  let client: ReturnType<typeof createSourceClient> | undefined;
  return createGeminiEphemeralIssuer({
    config: config.gemini,
    source: () => (client ??= createSourceClient(config.source)),
    now: options.now,
    resilience: options.resilience?.upstream,
  });
}

/** Each web app's client secret, read from Secret Manager with the broker's source client and kept in memory. */
export function clientSecrets(config: BrokerConfig, options: { now?: () => number; resilience?: ResilienceOverrides }) {
  let client: ReturnType<typeof createSourceClient> | undefined;
  const sources = new Map<string, SecretValueSource>();
  return (app: { clientSecretRef: string }, deadline: import('./resilience/deadline').Deadline): Promise<string> => {
    let source = sources.get(app.clientSecretRef);
    if (!source) {
      source = createSecretValueSource({
        endpoint: config.gemini.secretManagerEndpoint,
        name: app.clientSecretRef,
        source: () => (client ??= createSourceClient(config.source)),
        now: options.now,
        resilience: options.resilience?.upstream,
      });
      sources.set(app.clientSecretRef, source);
    }
    return source.value(deadline);
  };
}

export async function loadPolicyFile(
  file: string, network: NetworkPolicy, maxLifetimeSeconds?: number, audit?: AuditSink,
  keys: IssuerKeySettings & { now?: () => number } = {},
): Promise<CompiledPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PolicyLoadError(file, [{ path: '(file)', reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}` }]);
  }
  return compilePolicy(parsePolicyText(text, file), {
    source: file,
    network,
    maxLifetimeSeconds,
    keys,
    onKeyEvent: (issuer, event) => recordAuthEvent(audit, keyAuthEvent(issuer, event)),
  });
}

/**
 * Reads the configuration from `env`, loads the policy and wires the broker. The outcome, or
 * the failure (a refused configuration included), is itself an audit entry.
 */
export async function loadBroker(env: NodeJS.ProcessEnv, options: LoadOptions = {}): Promise<Broker> {
  const { audit } = options;
  try {
    const config = readBrokerConfig(env);
    const policy = await loadPolicyFile(config.policyFile, config.network, config.maxLifetimeSeconds, audit, { ...options.resilience?.keys, now: options.now });
    checkStateRequirements(policy, config);
    // One Firestore client serves the token cache, the assertion replay store, the rate limiter
    // and the issued-token record; without Firestore (development) all live in this instance's memory.
    const state = config.cache.kind === 'firestore' ? await openFirestore(config.cache) : undefined;
    const firestore = state?.client;
    // One envelope cipher per instance: cache entries and sessions are sealed under the same key.
    const cipher = config.cache.kind === 'firestore' ? new EnvelopeCipher(keyWrapperFor(config.cache.keyWrapping), { now: options.now }) : undefined;
    const cache = await createTokenCache(config.cache, {
      cipher,
      onEvent: (event) => {
        const authEvent = cacheAuthEvent(event);
        if (authEvent) recordAuthEvent(audit, authEvent);
      },
      firestore,
      now: options.now,
      ...options.cache,
    });
    // The kill switch: its first snapshot is awaited (boundedly); a new entry purges the cache.
    const denyList = await wireDenyList({ firestore, cache, audit, now: options.now, denyList: options.denyList });
    const issued = firestore
      ? createFirestoreIssuedTokenStore({
          firestore,
          now: options.now,
          onWriteFailed: (tokenSha256, detail) => recordAuthEvent(audit, { event: 'issued_token_unrecorded', tokenSha256, detail }),
        })
      : createMemoryIssuedTokenStore();
    const replay = firestore ? createFirestoreReplayStore({ firestore, now: options.now }) : createMemoryReplayStore({ now: options.now });
    const limiter = firestore
      ? createFirestoreRateLimiter({
          firestore,
          now: options.now,
          instanceId: randomUUID(),
          onEvent: (event) => {
            // Contention is retried and answered with a short Retry-After; only outages are audited.
            if (event.type === 'store_unavailable') recordAuthEvent(audit, { event: 'limits_store_unavailable', detail: event.detail });
          },
        })
      : createMemoryRateLimiter({ now: options.now });
    const signIn = policy.webApps.size === 0 ? undefined : createSignIn({
      webApps: policy.webApps,
      provider: createProviderClient({
        clientSecret: clientSecrets(config, options),
        allowInsecureLoopback: config.network.allowInsecureLoopback,
        now: options.now,
      }),
      vault: firestore && cipher ? createFirestoreSessionVault({ firestore, cipher, now: options.now }) : createMemorySessionVault({ now: options.now }),
      attempts: firestore && cipher ? createFirestoreLoginAttemptStore({ firestore, cipher, now: options.now }) : createMemoryLoginAttemptStore({ now: options.now }),
      limiter,
      requestDeadlineMs: options.resilience?.requestDeadlineMs,
      refreshMarginSeconds: options.signIn?.refreshMarginSeconds,
      now: options.now,
    });
    const broker = createBroker({
      policy,
      cache,
      audit,
      minter: createImpersonatedMinter({
        endpoint: config.iamEndpoint,
        stsEndpoint: config.stsEndpoint,
        source: config.source,
        resilience: options.resilience?.upstream,
        onCircuitTransition: (transition) => recordAuthEvent(audit, {
          event: 'upstream_circuit',
          upstream: 'iamcredentials',
          state: transition.state,
          failures: transition.failures,
          ...(transition.openMs === undefined ? {} : { openSeconds: Math.ceil(transition.openMs / 1000) }),
        }),
      }),
      gemini: geminiIssuer(config, options),
      requestDeadlineMs: options.resilience?.requestDeadlineMs,
      issuerUrl: config.issuerUrl,
      brokerAudiences: brokerAudiences(config.issuerUrl),
      // Bounded scrypt computations at once per instance (see shared/concurrency.ts).
      clientAuth: { secrets: new SecretVerifier({ verify: limitConcurrency(verifySecret, DEFAULTS.secretVerifyConcurrency) }), throttle: new FailureThrottle(), replay },
      limiter,
      issued,
      signIn,
      denyList,
      now: options.now,
    });
    const close = broker.close;
    broker.close = async () => {
      await close();
      await Promise.allSettled([replay.close(), limiter.close(), denyList.close()]);
      await state?.close();
    };
    recordAuthEvent(audit, { event: 'policy_loaded', source: policy.source, policyVersion: policy.version, rules: policy.rules.length, issuers: policy.issuers.size });
    return broker;
  } catch (err) {
    recordAuthEvent(audit, { event: 'policy_load_failed', detail: err instanceof Error ? err.message : String(err) });
    throw err;
  }
}

/**
 * Settings a policy needs from the deployment, refused at load rather than discovered by
 * callers: assertions need the broker's own URL (their only acceptable `aud`), and single-use
 * `jti`s and limits need state shared by all instances (Firestore) outside development.
 */
function checkStateRequirements(policy: CompiledPolicy, config: BrokerConfig): void {
  const assertionClients = [...policy.assertionClients.keys()];
  if (assertionClients.length > 0 && !config.issuerUrl) {
    throw new ConfigurationError(`clients ${assertionClients.join(', ')} register keys for RFC 7523 assertions: set BROKER_ISSUER_URL (their only acceptable audience)`);
  }
  const limited = policy.rules.some((rule) => rule.limits) || [...policy.clients.values()].some((client) => client.limits);
  const oneTime = [...policy.issuers.values()].some((issuer) => issuer.oneTime);
  if (config.mode === 'production' && config.cache.kind !== 'firestore' && (assertionClients.length > 0 || limited || oneTime || policy.webApps.size > 0)) {
    throw new ConfigurationError('single-use assertions, rate limits and user sessions need state shared by every instance: use BROKER_CACHE=firestore');
  }
  for (const app of policy.webApps.values()) {
    if (!config.issuerUrl || app.redirectUri !== `${config.issuerUrl}/v1/callback`) {
      throw new ConfigurationError(`web app ${app.id}: redirect_uri must be the broker's own callback, ${config.issuerUrl ?? 'BROKER_ISSUER_URL'}/v1/callback (set BROKER_ISSUER_URL)`);
    }
  }
}

export { brokerAudiences } from './broker-audiences';
