/**
 * Turns a validated document into a CompiledPolicy: defaults applied, URLs checked against
 * the deployment's network policy, CEL conditions compiled — so every error a policy can
 * have surfaces at load time, never at request time.
 */
import type { JSONWebKeySet } from 'jose';
import { DEFAULTS } from '../config/defaults';
import { urlRefusal, type NetworkPolicy } from '../identity/bounded-fetch';
import { createKeySource, type KeySourceEvent, type KeySourceSpec } from '../identity/key-source';
import type { TrustedIssuer } from '../identity/trusted-issuer';
import { canonicalJson, contentVersion } from './canonical-json';
import { CelConditionError, compileCondition } from './cel';
import type { CompiledPolicy, CompiledRule } from './compiled-policy';
import { PolicyLoadError, type PolicyIssue } from './policy-error';
import type { IssuerDocument, PolicyDocument, RuleDocument } from './schema';

export interface CompileOptions {
  /** Where the document came from, for messages. */
  source: string;
  network: NetworkPolicy;
  /** Broker-wide lifetime ceiling (≤ DEFAULTS.maxTokenLifetimeSecondsCeiling). */
  maxLifetimeSeconds?: number;
  /** Observes issuers' key endpoints (fetch failures, key rotations). */
  onKeyEvent?: (issuer: string, event: KeySourceEvent) => void;
}

export function compilePolicy(document: PolicyDocument, options: CompileOptions): CompiledPolicy {
  const issues: PolicyIssue[] = [];
  const issuers = new Map<string, TrustedIssuer>();
  document.issuers.forEach((issuer, i) => {
    const trusted = compileIssuer(issuer, `issuers[${i}]`, options, issues);
    if (trusted) issuers.set(trusted.issuer, trusted);
  });
  const ceiling = Math.min(options.maxLifetimeSeconds ?? Infinity, DEFAULTS.maxTokenLifetimeSecondsCeiling);
  const rules: CompiledRule[] = [];
  document.rules.forEach((rule, i) => {
    const compiled = compileRule(rule, `rules[${i}]`, ceiling, issues);
    if (compiled) rules.push(compiled);
  });
  if (issues.length > 0) throw new PolicyLoadError(options.source, issues);
  return Object.freeze({
    source: options.source,
    version: contentVersion(JSON.parse(canonicalJson(document))),
    issuers,
    rules: Object.freeze(rules),
  });
}

function compileIssuer(doc: IssuerDocument, path: string, options: CompileOptions, issues: PolicyIssue[]): TrustedIssuer | undefined {
  const { network, onKeyEvent } = options;
  const before = issues.length;
  checkUrl(doc.issuer, `${path}.issuer`, network, issues);
  if (doc.jwks_uri !== undefined) checkUrl(doc.jwks_uri, `${path}.jwks_uri`, network, issues);
  const maxAge = doc.max_token_age_seconds ?? DEFAULTS.maxTokenAgeSeconds;
  const maxValidity = doc.max_token_validity_seconds ?? DEFAULTS.maxTokenValiditySeconds;
  if (issues.length > before) return undefined;
  return Object.freeze({
    issuer: doc.issuer,
    audiences: Object.freeze([...doc.audiences]),
    algorithms: Object.freeze([...(doc.algorithms ?? DEFAULTS.algorithms)]),
    clockToleranceSeconds: doc.clock_tolerance_seconds ?? DEFAULTS.clockToleranceSeconds,
    maxTokenAgeSeconds: maxAge,
    maxTokenValiditySeconds: maxValidity,
    keys: createKeySource(keySourceSpec(doc), { network, onEvent: onKeyEvent && ((event) => onKeyEvent(doc.issuer, event)) }),
  });
}

function keySourceSpec(doc: IssuerDocument): KeySourceSpec {
  if (doc.jwks !== undefined) return { kind: 'inline', jwks: doc.jwks as unknown as JSONWebKeySet };
  if (doc.jwks_uri !== undefined) return { kind: 'jwks_uri', jwksUri: doc.jwks_uri };
  return { kind: 'discovery', issuer: doc.issuer };
}

function checkUrl(value: string, path: string, network: NetworkPolicy, issues: PolicyIssue[]): void {
  const refusal = urlRefusal(new URL(value), network);
  if (refusal) issues.push({ path, reason: refusal });
}

function compileRule(doc: RuleDocument, path: string, ceiling: number, issues: PolicyIssue[]): CompiledRule | undefined {
  try {
    return Object.freeze({
      id: doc.id,
      issuer: doc.issuer,
      condition: compileCondition(doc.condition),
      grant: Object.freeze({
        serviceAccount: doc.grant.service_account,
        scopes: Object.freeze([...new Set(doc.grant.scopes)].sort()),
        maxLifetimeSeconds: Math.min(doc.grant.max_lifetime_seconds ?? DEFAULTS.ruleMaxLifetimeSeconds, ceiling),
        delegates: Object.freeze([...(doc.grant.delegates ?? [])]),
      }),
      auditClaims: Object.freeze([...(doc.audit_claims ?? [])]),
    });
  } catch (err) {
    if (!(err instanceof CelConditionError)) throw err;
    issues.push({ path: `${path}.condition`, reason: `invalid CEL: ${err.message}` });
    return undefined;
  }
}
