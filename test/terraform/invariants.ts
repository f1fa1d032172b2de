/**
 * Security invariants of the project's Terraform, checked offline on hcl2json output
 * (see schema-check.ts). Each check returns findings as `file:address: problem` strings, so a
 * test can assert an empty list and a planted mistake can assert a specific entry.
 */
import { addressOf, blocksOf, isExpression, isLiteralString, isObject, isObjectArray, type Json, type JsonObject, type TfBlock, type TfFile } from './schema-check';

export const TOKEN_CREATOR_ROLE = 'roles/iam.serviceAccountTokenCreator';
export const TOKEN_CREATOR_GRANTS = new Set(['google_service_account_iam_member', 'google_service_account_iam_binding']);
/** Permissions that let a principal mint tokens as a service account (what the role carries). */
export const TOKEN_MINTING_PERMISSIONS = ['iam.serviceAccounts.getAccessToken', 'iam.serviceAccounts.getOpenIdToken', 'iam.serviceAccounts.signBlob', 'iam.serviceAccounts.signJwt', 'iam.serviceAccounts.implicitDelegation'];
export const REQUIRED_RESTRICTED_SERVICES = [
  'aiplatform.googleapis.com',
  'iamcredentials.googleapis.com',
  'sts.googleapis.com',
  'firestore.googleapis.com',
  'cloudkms.googleapis.com',
  'secretmanager.googleapis.com',
  'logging.googleapis.com',
];
export const TTL_FIELD = 'expireAt';

const where = (b: TfBlock): string => `${b.file}:${addressOf(b)}`;

// ---------------------------------------------------------------------------------------------
// Module context: variables and locals of one directory, and a small resolver of expressions

export interface ModuleContext {
  dir: string;
  variables: Map<string, JsonObject>;
  locals: Map<string, Json>;
}

export function moduleContext(files: readonly TfFile[], dir: string): ModuleContext {
  const variables = new Map<string, JsonObject>();
  const locals = new Map<string, Json>();
  for (const f of files) {
    if (f.dir !== dir) continue;
    const vars = f.json.variable;
    if (isObject(vars)) {
      for (const [name, bodies] of Object.entries(vars)) {
        const body = Array.isArray(bodies) ? bodies[0] : bodies;
        if (isObject(body)) variables.set(name, body);
      }
    }
    const localBlocks = f.json.locals;
    for (const block of Array.isArray(localBlocks) ? localBlocks : localBlocks === undefined ? [] : [localBlocks]) {
      if (isObject(block)) for (const [name, value] of Object.entries(block)) locals.set(name, value);
    }
  }
  return { dir, variables, locals };
}

/** Names referenced as var.X / local.X inside an expression string (or any nested value). */
export function references(value: Json | undefined, prefix: 'var' | 'local'): string[] {
  const out = new Set<string>();
  const visit = (v: Json | undefined): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(new RegExp(`(?<![A-Za-z0-9_.])${prefix}\\.([A-Za-z_][A-Za-z0-9_-]*)`, 'g'))) if (m[1]) out.add(m[1]);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (isObject(v)) Object.values(v).forEach(visit);
  };
  visit(value);
  return [...out];
}

/** The whole value when it is exactly one reference "${var.x}" / "${local.x}". */
function soleReference(v: Json | undefined): { kind: 'var' | 'local' | 'each'; path: string[] } | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^\$\{\s*(var|local|each)\.([A-Za-z0-9_.-]+)\s*\}$/.exec(v);
  if (!m?.[1] || !m[2]) return undefined;
  return { kind: m[1] as 'var' | 'local' | 'each', path: m[2].split('.') };
}

export interface EachBinding {
  key: Json;
  value: Json;
}

/**
 * Resolves a value to a literal as far as the module itself determines it: literals,
 * var.X (its default), local.X, each.key / each.value[.attr], toset()/tolist() of those.
 * Returns undefined when the value depends on something else.
 */
export function resolveValue(v: Json | undefined, ctx: ModuleContext, each?: EachBinding, depth = 0): Json | undefined {
  if (v === undefined || depth > 20) return undefined;
  if (!isExpression(v)) {
    if (Array.isArray(v)) {
      const items = v.map((x) => resolveValue(x, ctx, each, depth + 1));
      return items.every((x) => x !== undefined) ? (items as Json[]) : undefined;
    }
    if (isObject(v)) {
      const out: JsonObject = {};
      for (const [k, x] of Object.entries(v)) {
        const r = resolveValue(x, ctx, each, depth + 1);
        if (r === undefined) return undefined;
        out[k] = r;
      }
      return out;
    }
    return v;
  }
  if (typeof v !== 'string') return undefined;
  const ref = soleReference(v);
  if (ref) {
    const [head, ...rest] = ref.path;
    if (head === undefined) return undefined;
    let base: Json | undefined;
    if (ref.kind === 'var') {
      const variable = ctx.variables.get(head);
      base = resolveValue(variable?.default, ctx, undefined, depth + 1);
      // An attribute the default leaves out: its optional(TYPE, DEFAULT) in the type.
      if (rest.length === 1 && rest[0] && isObject(base ?? null) && !((rest[0] as string) in (base as JsonObject))) {
        const fallback = optionalDefault(variable?.type, rest[0]);
        if (fallback !== undefined) return fallback;
      }
    } else if (ref.kind === 'local') base = resolveValue(ctx.locals.get(head), ctx, undefined, depth + 1);
    else if (each) base = head === 'key' ? each.key : head === 'value' ? each.value : undefined;
    for (const part of rest) {
      if (!isObject(base ?? null)) return undefined;
      base = (base as JsonObject)[part];
    }
    return base;
  }
  const quoted = /^\$\{\s*("(?:[^"\\]|\\.)*")\s*\}$/s.exec(v);
  if (quoted?.[1] !== undefined) {
    try {
      const text = JSON.parse(quoted[1]) as string;
      return isExpression(text) ? undefined : text;
    } catch {
      return undefined;
    }
  }
  const list = /^\$\{\s*(\[.*\])\s*\}$/s.exec(v);
  if (list?.[1] !== undefined) return resolveListLiteral(list[1], ctx, each, depth);
  const fn = /^\$\{\s*(toset|tolist|distinct)\((.*)\)\s*\}$/s.exec(v);
  if (fn?.[2] !== undefined) {
    const inner = fn[2].trim();
    if (inner.startsWith('[')) return resolveListLiteral(inner, ctx, each, depth);
    return resolveValue(`\${${inner}}`, ctx, each, depth + 1);
  }
  return undefined;
}

/** Splits "a, f(b, c), [d]" at its top-level commas, minding strings and brackets. */
export function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = false;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      current += c;
      if (c === '\\') current += text[++i] ?? '';
      else if (c === '"') quote = false;
      continue;
    }
    if (c === '"') quote = true;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    if (c === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += c;
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

/** "[a, \"b\"]" as written in an expression: each element resolved, or undefined. */
function resolveListLiteral(text: string, ctx: ModuleContext, each: EachBinding | undefined, depth: number): Json | undefined {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '');
  const out: Json[] = [];
  for (const element of splitTopLevel(body)) {
    let value: Json | undefined;
    if (/^"(?:[^"\\]|\\.)*"$/.test(element)) value = JSON.parse(element) as string;
    else if (/^-?[0-9]+(\.[0-9]+)?$/.test(element)) value = Number(element);
    else value = resolveValue(`\${${element}}`, ctx, each, depth + 1);
    if (value === undefined) return undefined;
    out.push(value);
  }
  return out;
}

/** DEFAULT of `ATTR = optional(TYPE, DEFAULT)` in a variable's object type, for literal defaults. */
function optionalDefault(type: Json | undefined, attr: string): Json | undefined {
  if (typeof type !== 'string') return undefined;
  const m = new RegExp(`\\b${attr}\\s*=\\s*optional\\(\\s*[a-z]+\\s*,\\s*("(?:[^"\\\\]|\\\\.)*"|-?[0-9.]+|true|false)\\s*\\)`).exec(type);
  if (!m?.[1]) return undefined;
  return JSON.parse(m[1]) as Json;
}

/** The each.key / each.value pairs a block's for_each yields, when the module determines them. */
export function forEachBindings(body: JsonObject, ctx: ModuleContext): EachBinding[] | undefined {
  if (!('for_each' in body)) return undefined;
  const value = resolveValue(body.for_each, ctx);
  if (Array.isArray(value)) return value.map((x) => ({ key: x, value: x }));
  if (isObject(value)) return Object.entries(value).map(([k, x]) => ({ key: k, value: x }));
  return undefined;
}

/** Every literal string reachable from a value: directly, or through var defaults and locals. */
function reachableStrings(v: Json | undefined, ctx: ModuleContext, seen = new Set<string>()): string[] {
  const out: string[] = [];
  const visit = (x: Json | undefined): void => {
    if (typeof x === 'string') {
      out.push(x);
      for (const name of references(x, 'local')) {
        if (seen.has(`local.${name}`)) continue;
        seen.add(`local.${name}`);
        visit(ctx.locals.get(name));
      }
      for (const name of references(x, 'var')) {
        if (seen.has(`var.${name}`)) continue;
        seen.add(`var.${name}`);
        visit(ctx.variables.get(name)?.default);
      }
    } else if (Array.isArray(x)) x.forEach(visit);
    else if (isObject(x)) {
      for (const [k, y] of Object.entries(x)) {
        out.push(k);
        visit(y);
      }
    }
  };
  visit(v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The invariants

/** No service account keys, as resources, data sources or ephemeral resources. */
export function checkNoServiceAccountKeys(files: readonly TfFile[]): string[] {
  return blocksOf(files)
    .filter((b) => b.type === 'google_service_account_key')
    .map((b) => `${where(b)}: service account keys are forbidden (the broker exists so that no key is ever created)`);
}

/**
 * roles/iam.serviceAccountTokenCreator (and custom roles with token-minting permissions) only on
 * a specific service account, through google_service_account_iam_member / _binding.
 */
export function checkTokenCreatorGrants(files: readonly TfFile[]): string[] {
  const findings: string[] = [];
  const contexts = new Map<string, ModuleContext>();
  const ctxOf = (dir: string): ModuleContext => {
    let c = contexts.get(dir);
    if (!c) contexts.set(dir, (c = moduleContext(files, dir)));
    return c;
  };
  const mintingCustomRoles: { dir: string; ref: string }[] = [];
  for (const b of blocksOf(files, ['resource'])) {
    if (!/^google_(project|organization)_iam_custom_role$/.test(b.type)) continue;
    const perms = reachableStrings(b.body.permissions, ctxOf(b.dir));
    const minting = TOKEN_MINTING_PERMISSIONS.filter((p) => perms.includes(p));
    if (minting.length > 0) mintingCustomRoles.push({ dir: b.dir, ref: `${b.type}.${b.name}` });
  }
  for (const b of [...blocksOf(files, ['resource']), ...blocksOf(files, ['data'])]) {
    const isGrant = /_iam_(member|binding|policy)$/.test(b.type) || b.type === 'google_iam_policy' || /^google_.*_iam_member_remove$/.test(b.type);
    if (!isGrant) continue;
    const strings = reachableStrings(b.body, ctxOf(b.dir));
    const grantsTokenCreator = strings.some((s) => s.includes(TOKEN_CREATOR_ROLE));
    const grantsMintingRole = strings.some((s) => mintingCustomRoles.some((r) => r.dir === b.dir && s.includes(r.ref)));
    if (!grantsTokenCreator && !grantsMintingRole) continue;
    if (b.kind === 'data' && b.type === 'google_iam_policy') {
      findings.push(`${where(b)}: ${TOKEN_CREATOR_ROLE} in an authoritative policy document; grant it with google_service_account_iam_member on the target service account instead`);
      continue;
    }
    if (!TOKEN_CREATOR_GRANTS.has(b.type)) {
      findings.push(
        `${where(b)}: ${grantsTokenCreator ? TOKEN_CREATOR_ROLE : 'a custom role with token-minting permissions'} granted through ${b.type}; ` +
          'it must be granted on each target service account only (google_service_account_iam_member / _binding), never on a project, folder or organization',
      );
    }
  }
  return findings;
}

/** Whether a variable has a validation {} whose condition reads var.NAME (and mentions `mention`). */
function hasValidation(variable: JsonObject, name: string, mention?: string): boolean {
  const validations = variable.validation;
  return (
    isObjectArray(validations) &&
    validations.some((v) => typeof v.condition === 'string' && v.condition.includes(`var.${name}`) && (mention === undefined || v.condition.includes(mention)))
  );
}

/** Variables an expression depends on, directly or through locals. */
function variablesBehind(value: Json | undefined, ctx: ModuleContext, seen = new Set<string>()): Set<string> {
  const out = new Set(references(value, 'var'));
  for (const local of references(value, 'local')) {
    if (seen.has(local)) continue;
    seen.add(local);
    for (const v of variablesBehind(ctx.locals.get(local), ctx, seen)) out.add(v);
  }
  return out;
}

/**
 * Every workload identity pool provider has a non-empty attribute_condition. When the condition
 * comes from a variable (directly, or as each.value.X of a for_each over a variable), that
 * variable must have a validation {} for it and must not default to an empty condition; module
 * calls of the federation module must pass non-empty conditions.
 */
export function checkWifProviders(files: readonly TfFile[], federationSource = /modules\/federation\/?$/): string[] {
  const findings: string[] = [];
  for (const b of blocksOf(files, ['resource'])) {
    if (b.type !== 'google_iam_workload_identity_pool_provider') continue;
    const ctx = moduleContext(files, b.dir);
    const condition = b.body.attribute_condition;
    if (condition === undefined || condition === null) {
      findings.push(`${where(b)}: attribute_condition is not set: without it any identity of the issuer (any repository, any tenant) can federate`);
      continue;
    }
    if (typeof condition !== 'string') {
      findings.push(`${where(b)}: attribute_condition is not a string`);
      continue;
    }
    if (!isExpression(condition)) {
      if (condition.trim() === '') findings.push(`${where(b)}: attribute_condition is empty`);
      continue;
    }
    // each.value.ATTR: the for_each's variable must validate ATTR; literal for_each values must hold it.
    const eachAttrs = [...condition.matchAll(/each\.value\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] as string);
    const direct = variablesBehind(condition, ctx);
    if (eachAttrs.length === 0 && direct.size === 0) {
      const resolved = resolveValue(condition, ctx);
      if (resolved === undefined) findings.push(`${where(b)}: attribute_condition ${JSON.stringify(condition)} depends on nothing the module validates`);
      else if (typeof resolved !== 'string' || resolved.trim() === '') findings.push(`${where(b)}: attribute_condition resolves to an empty value`);
      continue;
    }
    for (const name of direct) {
      const variable = ctx.variables.get(name);
      if (!variable) {
        findings.push(`${where(b)}: attribute_condition uses var.${name}, which is not declared in ${b.dir}`);
        continue;
      }
      if (!hasValidation(variable, name)) findings.push(`${b.dir}: variable "${name}" (attribute_condition of ${addressOf(b)}) has no validation {} rejecting an empty condition`);
      if ('default' in variable && (variable.default === null || (typeof variable.default === 'string' && variable.default.trim() === ''))) {
        findings.push(`${b.dir}: variable "${name}" (attribute_condition of ${addressOf(b)}) defaults to an empty condition`);
      }
    }
    if (eachAttrs.length > 0) {
      const bindings = forEachBindings(b.body, ctx);
      const feVars = variablesBehind(b.body.for_each, ctx);
      if (bindings) {
        for (const each of bindings) {
          for (const attr of eachAttrs) {
            const v = isObject(each.value) ? each.value[attr] : undefined;
            if (typeof v !== 'string' || v.trim() === '') findings.push(`${where(b)}[${JSON.stringify(each.key)}]: attribute_condition (${attr}) is empty or not set`);
          }
        }
      } else if (feVars.size === 0) {
        findings.push(`${where(b)}: attribute_condition comes from a for_each the module does not determine or validate`);
      }
      for (const name of feVars) {
        const variable = ctx.variables.get(name);
        if (!variable) {
          findings.push(`${where(b)}: for_each uses var.${name}, which is not declared in ${b.dir}`);
          continue;
        }
        for (const attr of eachAttrs) {
          if (!hasValidation(variable, name, attr)) findings.push(`${b.dir}: variable "${name}" has no validation {} of ${attr} (attribute_condition of ${addressOf(b)})`);
          const type = typeof variable.type === 'string' ? variable.type : '';
          const optional = new RegExp(`\\b${attr}\\s*=\\s*optional\\(`).exec(type);
          if (optional) findings.push(`${b.dir}: variable "${name}" declares ${attr} optional; it must be required`);
        }
      }
    }
  }
  // Callers of the federation module must not pass an empty condition.
  for (const f of files) {
    const modules = f.json.module;
    if (!isObject(modules)) continue;
    for (const [name, bodies] of Object.entries(modules)) {
      for (const body of Array.isArray(bodies) ? bodies : [bodies]) {
        if (!isObject(body) || typeof body.source !== 'string' || !federationSource.test(body.source)) continue;
        const providers = isObject(body.oidc_providers) ? body.oidc_providers : resolveValue(body.oidc_providers, moduleContext(files, f.dir));
        if (!isObject(providers ?? null)) continue;
        for (const [id, p] of Object.entries(providers as JsonObject)) {
          const c = isObject(p) ? p.attribute_condition : undefined;
          if (c === undefined || c === null || (isLiteralString(c) && c.trim() === '')) findings.push(`${f.file}:module.${name}: oidc_providers["${id}"] has no attribute_condition`);
        }
      }
    }
  }
  return findings;
}

/** Function ingress never defaults to ALLOW_ALL (the provider's own default when unset). */
export function checkFunctionIngress(files: readonly TfFile[]): string[] {
  const findings: string[] = [];
  const checkValue = (b: TfBlock, path: string, value: Json | undefined, bad: string): void => {
    const ctx = moduleContext(files, b.dir);
    if (value === undefined || value === null) {
      findings.push(`${where(b)}: ${path} is not set, so the provider's default ${bad} applies`);
      return;
    }
    if (isLiteralString(value)) {
      if (value === bad) findings.push(`${where(b)}: ${path} is ${bad}`);
      return;
    }
    const ref = /^\$\{\s*var\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}$/.exec(String(value));
    if (ref?.[1]) {
      const variable = ctx.variables.get(ref[1]);
      if (!variable) findings.push(`${where(b)}: ${path} uses var.${ref[1]}, which is not declared`);
      else if (!('default' in variable)) return; // required input: the caller chooses
      else if (variable.default === bad || variable.default === null) findings.push(`${b.dir}: variable "${ref[1]}" (${path} of ${addressOf(b)}) defaults to ${variable.default === null ? `null (the provider's default ${bad})` : bad}`);
      return;
    }
    const resolved = resolveValue(value, ctx);
    if (resolved === bad) findings.push(`${where(b)}: ${path} resolves to ${bad}`);
  };
  for (const b of blocksOf(files, ['resource'])) {
    if (b.type === 'google_cloudfunctions2_function') {
      const sc = b.body.service_config;
      if (!isObjectArray(sc) || sc.length === 0) {
        if (!isObject(b.body.dynamic) || !('service_config' in b.body.dynamic)) findings.push(`${where(b)}: no service_config, so ingress_settings defaults to ALLOW_ALL`);
        continue;
      }
      checkValue(b, 'service_config.ingress_settings', sc[0]?.ingress_settings, 'ALLOW_ALL');
    } else if (b.type === 'google_cloudfunctions_function') {
      checkValue(b, 'ingress_settings', b.body.ingress_settings, 'ALLOW_ALL');
    } else if (b.type === 'google_cloud_run_v2_service') {
      checkValue(b, 'ingress', b.body.ingress, 'INGRESS_TRAFFIC_ALL');
    }
  }
  return findings;
}

/** The collections a google_firestore_field targets and whether each has a TTL on `field`. */
export function firestoreTtlFields(files: readonly TfFile[]): { block: TfBlock; collection: string; field: string; ttl: boolean }[] {
  const out: { block: TfBlock; collection: string; field: string; ttl: boolean }[] = [];
  for (const b of blocksOf(files, ['resource'])) {
    if (b.type !== 'google_firestore_field') continue;
    const ctx = moduleContext(files, b.dir);
    const hasTtl = (body: JsonObject, each?: EachBinding): boolean => {
      if (isObjectArray(body.ttl_config) && body.ttl_config.length > 0) return true;
      const dyn = isObject(body.dynamic) ? body.dynamic.ttl_config : undefined;
      if (!isObjectArray(dyn) || dyn.length === 0) return false;
      // A dynamic ttl_config counts when its for_each is non-empty as far as the module decides.
      const items = resolveValue(dyn[0]?.for_each, ctx, each);
      return items === undefined || (Array.isArray(items) ? items.length > 0 : isObject(items) ? Object.keys(items).length > 0 : Boolean(items));
    };
    const bindings = forEachBindings(b.body, ctx) ?? [undefined];
    for (const each of bindings) {
      const collection = resolveValue(b.body.collection, ctx, each);
      const field = resolveValue(b.body.field, ctx, each);
      if (typeof collection === 'string' && typeof field === 'string') out.push({ block: b, collection, field, ttl: hasTtl(b.body, each) });
    }
  }
  return out;
}

export function checkTtlPolicies(files: readonly TfFile[], collections: readonly string[], field = TTL_FIELD): string[] {
  const fields = firestoreTtlFields(files);
  const findings: string[] = [];
  for (const collection of collections) {
    const match = fields.filter((f) => f.collection === collection && f.field === field && f.ttl);
    if (match.length === 0) {
      const near = fields.filter((f) => f.collection === collection).map((f) => `${where(f.block)} (field ${f.field}, ttl_config ${f.ttl ? 'set' : 'missing'})`);
      findings.push(`no google_firestore_field with ttl_config on ${collection}.${field}${near.length ? `; found ${near.join(', ')}` : ''}`);
    }
  }
  return findings;
}

/** The environment_variables a function sets, by name, with each value's expression. */
export function functionEnvironment(b: TfBlock, files: readonly TfFile[]): Map<string, Json> {
  const ctx = moduleContext(files, b.dir);
  const env = new Map<string, Json>();
  const sc = b.body.service_config;
  const service = isObjectArray(sc) ? sc[0] : undefined;
  const collect = (v: Json | undefined, depth = 0): void => {
    if (v === undefined || depth > 10) return;
    if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) env.set(k, x);
      return;
    }
    if (typeof v === 'string') {
      // merge(local.a, {...}) or local.env: follow every local the expression names.
      for (const name of references(v, 'local')) collect(ctx.locals.get(name), depth + 1);
      // Object literals inside the expression: NAME = value, one per line (terraform fmt style).
      for (const m of v.matchAll(/^\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\s*=(?!=)\s*(.+?)\s*,?\s*$/gm)) {
        if (m[1] && m[2] && !env.has(m[1])) env.set(m[1], `\${${m[2]}}`);
      }
    }
  };
  collect(service?.environment_variables);
  const secrets = service?.secret_environment_variables;
  if (isObjectArray(secrets)) for (const s of secrets) if (typeof s.key === 'string') env.set(s.key, '(secret)');
  const dyn = isObject(service?.dynamic) ? service.dynamic.secret_environment_variables : undefined;
  if (isObjectArray(dyn)) {
    for (const d of dyn) {
      const content = isObjectArray(d.content) ? d.content[0] : undefined;
      const items = forEachBindings({ for_each: d.for_each ?? null }, ctx);
      const iterator = typeof d.iterator === 'string' ? d.iterator.replace(/^\$\{|\}$/g, '') : 'secret_environment_variables';
      const key = content?.key;
      if (typeof key !== 'string') continue;
      if (!isExpression(key)) env.set(key, '(secret)');
      else if (items) {
        for (const item of items) {
          const k = key.replace(new RegExp(`\\$\\{${iterator}\\.(key|value)\\}`), (_m: string, which: string) => String(which === 'key' ? item.key : item.value));
          if (isLiteralString(k)) env.set(k, '(secret)');
        }
      }
    }
  }
  return env;
}

/** The broker function's BROKER_CACHE_KMS_KEY is the id of a google_kms_crypto_key of the module. */
export function checkKmsKeyWiring(files: readonly TfFile[], fn: TfBlock): string[] {
  const ctx = moduleContext(files, fn.dir);
  const keys = blocksOf(files, ['resource']).filter((b) => b.dir === fn.dir && b.type === 'google_kms_crypto_key');
  if (keys.length === 0) return [`${fn.dir}: no google_kms_crypto_key resource for the token cache`];
  const value = functionEnvironment(fn, files).get('BROKER_CACHE_KMS_KEY');
  if (value === undefined) return [`${where(fn)}: BROKER_CACHE_KMS_KEY is not in service_config.environment_variables`];
  const expressions = reachableStrings(value, ctx).join('\n');
  const wired = keys.some((k) => new RegExp(`google_kms_crypto_key\\.${k.name}(\\[[^\\]]*\\])?\\.id\\b`).test(expressions));
  return wired ? [] : [`${where(fn)}: BROKER_CACHE_KMS_KEY is ${JSON.stringify(value)}, not the id of ${keys.map((k) => addressOf(k)).join(' / ')}`];
}

/** The perimeter module's restricted_services default and validation cover the required list. */
export function checkPerimeterServices(files: readonly TfFile[], perimeterDir = 'terraform/modules/perimeter'): string[] {
  const ctx = moduleContext(files, perimeterDir);
  const variable = ctx.variables.get('restricted_services');
  if (!variable) return [`${perimeterDir}: no variable "restricted_services"`];
  const findings: string[] = [];
  const def = variable.default;
  const missing = REQUIRED_RESTRICTED_SERVICES.filter((s) => !Array.isArray(def) || !def.includes(s));
  if (missing.length) findings.push(`${perimeterDir}: restricted_services default lacks ${missing.join(', ')}`);
  const validations = isObjectArray(variable.validation) ? variable.validation : [];
  const guarded = REQUIRED_RESTRICTED_SERVICES.filter((s) => !validations.some((v) => typeof v.condition === 'string' && v.condition.includes(s) && v.condition.includes('var.restricted_services')));
  if (guarded.length) findings.push(`${perimeterDir}: no validation of restricted_services requires ${guarded.join(', ')}`);
  // Every perimeter resource must take its restricted services from that variable (or list them all).
  for (const b of blocksOf(files, ['resource'])) {
    if (b.type !== 'google_access_context_manager_service_perimeter') continue;
    const strings = reachableStrings(b.body, moduleContext(files, b.dir)).join('\n');
    const lacking = REQUIRED_RESTRICTED_SERVICES.filter((s) => !strings.includes(s));
    if (lacking.length) findings.push(`${where(b)}: restricted services do not include ${lacking.join(', ')}`);
  }
  // Callers of the module that override restricted_services must keep the list.
  for (const f of files) {
    const modules = f.json.module;
    if (!isObject(modules)) continue;
    for (const [name, bodies] of Object.entries(modules)) {
      for (const body of Array.isArray(bodies) ? bodies : [bodies]) {
        if (!isObject(body) || typeof body.source !== 'string' || !/modules\/perimeter\/?$/.test(body.source)) continue;
        const list = resolveValue(body.restricted_services, moduleContext(files, f.dir));
        if (list === undefined) continue;
        const lacking = REQUIRED_RESTRICTED_SERVICES.filter((s) => !Array.isArray(list) || !list.includes(s));
        if (lacking.length) findings.push(`${f.file}:module.${name}: restricted_services lacks ${lacking.join(', ')}`);
      }
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Secret Manager: web app client secrets

export const SECRET_ACCESSOR_ROLE = 'roles/secretmanager.secretAccessor';
const SECRET_IAM = /^google_secret_manager_secret_iam_(member|binding|policy)$/;

/** Whether an expression (or any nested value) names `google_secret_manager_secret.NAME`. */
const namesSecret = (v: Json | undefined, name: string): boolean =>
  new RegExp(`(?<![A-Za-z0-9_.])google_secret_manager_secret\\.${name}(?![A-Za-z0-9_-])`).test(JSON.stringify(v ?? null));

/**
 * The service account the module's google_cloudfunctions2_function runs as
 * (service_config.service_account_email = google_service_account.NAME.email): NAME.
 */
export function runtimeServiceAccountName(files: readonly TfFile[], dir: string): string | undefined {
  for (const b of blocksOf(files, ['resource'])) {
    if (b.dir !== dir || b.type !== 'google_cloudfunctions2_function') continue;
    const sc = isObjectArray(b.body.service_config) ? b.body.service_config[0] : undefined;
    const m = /^\$\{\s*google_service_account\.([A-Za-z0-9_-]+)\.email\s*\}$/.exec(String(sc?.service_account_email ?? ''));
    if (m?.[1]) return m[1];
  }
  return undefined;
}

/**
 * The web app client secrets of a module (google_secret_manager_secret blocks whose for_each or
 * count depends on var.VARIABLE) are only ever read by the broker:
 * - each secret has exactly one roles/secretmanager.secretAccessor binding, a
 *   google_secret_manager_secret_iam_member to the function's runtime service account that
 *   iterates exactly as the secret does (one binding per web app secret);
 * - no other principal gets any role on them through Terraform;
 * - no google_secret_manager_secret_version (resource, data source or ephemeral) touches them:
 *   the client secret never passes through Terraform state;
 * - secretAccessor is never granted on a project, folder or organization.
 */
export function checkWebAppSecrets(files: readonly TfFile[], dir: string, variable = 'web_apps'): string[] {
  const findings: string[] = [];
  const ctx = moduleContext(files, dir);
  const inDir = blocksOf(files).filter((b) => b.dir === dir);
  const secrets = inDir.filter(
    (b) => b.kind === 'resource' && b.type === 'google_secret_manager_secret' && variablesBehind([b.body.for_each ?? null, b.body.count ?? null], ctx).has(variable),
  );
  if (secrets.length === 0) return [`${dir}: no google_secret_manager_secret iterates over var.${variable}`];
  const runtime = runtimeServiceAccountName(files, dir);
  if (runtime === undefined) findings.push(`${dir}: no google_cloudfunctions2_function with service_account_email = google_service_account.NAME.email`);
  const runtimeMembers = runtime === undefined ? [] : [`\${google_service_account.${runtime}.member}`, `serviceAccount:\${google_service_account.${runtime}.email}`];

  for (const secret of secrets) {
    const label = `${where(secret)} (web app secret)`;
    // No version: the value is added out of band, never through Terraform.
    for (const v of inDir.filter((b) => b.type === 'google_secret_manager_secret_version')) {
      if (namesSecret(v.body, secret.name) || variablesBehind(v.body, ctx).has(variable)) {
        findings.push(`${where(v)}: a secret version of ${addressOf(secret)}: web app client secrets must never pass through Terraform (or its state); add them with gcloud secrets versions add`);
      }
    }
    // Grants naming the secret, or reaching it through var.VARIABLE (e.g. each.value.secret_id).
    const grants = inDir.filter((b) => b.kind === 'resource' && SECRET_IAM.test(b.type) && (namesSecret(b.body, secret.name) || variablesBehind(b.body, ctx).has(variable)));
    const accessors: TfBlock[] = [];
    for (const g of grants) {
      const role = g.body.role;
      if (g.type !== 'google_secret_manager_secret_iam_member') {
        findings.push(`${where(g)}: ${g.type} on ${addressOf(secret)}; grant read access with one google_secret_manager_secret_iam_member to the broker only`);
        continue;
      }
      if (role !== SECRET_ACCESSOR_ROLE) {
        findings.push(`${where(g)}: grants ${JSON.stringify(role)} on ${addressOf(secret)}; only ${SECRET_ACCESSOR_ROLE} for the broker is allowed`);
        continue;
      }
      accessors.push(g);
    }
    if (accessors.length !== 1) {
      findings.push(`${label}: ${accessors.length} ${SECRET_ACCESSOR_ROLE} bindings (${accessors.map(addressOf).sort().join(', ') || 'none'}); expected exactly one, to the broker's runtime service account`);
    }
    for (const g of accessors) {
      if (!runtimeMembers.includes(String(g.body.member))) {
        findings.push(`${where(g)}: member ${JSON.stringify(g.body.member)} on ${addressOf(secret)} is not the broker's runtime service account (${runtimeMembers[0] ?? 'unknown'})`);
      }
      // One binding per secret instance: the same iteration, each binding naming its own secret.
      const sameIteration =
        JSON.stringify(g.body.for_each ?? null) === JSON.stringify(secret.body.for_each ?? null) &&
        JSON.stringify(g.body.count ?? null) === JSON.stringify(secret.body.count ?? null) &&
        new RegExp(`google_secret_manager_secret\\.${secret.name}\\[${secret.body.count !== undefined ? 'count\\.index' : 'each\\.key'}\\]`).test(String(g.body.secret_id));
      const overSecret =
        new RegExp(`^\\$\\{\\s*google_secret_manager_secret\\.${secret.name}\\s*\\}$`).test(String(g.body.for_each ?? '')) && /^\$\{\s*each\.value\.(secret_id|id|name)\s*\}$/.test(String(g.body.secret_id));
      if (!sameIteration && !overSecret) {
        findings.push(`${where(g)}: does not bind each instance of ${addressOf(secret)} exactly once (iterate as the secret does and use ${addressOf(secret)}[each.key].secret_id)`);
      }
    }
  }
  // Secret Manager access on a whole project, folder or organization opens every secret in it.
  for (const b of blocksOf(files, ['resource'])) {
    if (!/^google_(project|folder|organization)_iam_(member|binding|policy)$/.test(b.type)) continue;
    if (reachableStrings(b.body, moduleContext(files, b.dir)).some((x) => x.includes(SECRET_ACCESSOR_ROLE))) {
      findings.push(`${where(b)}: ${SECRET_ACCESSOR_ROLE} granted through ${b.type}; grant it on each secret only (google_secret_manager_secret_iam_member)`);
    }
  }
  return findings;
}

/** All invariants that do not depend on the broker module's presence. */
export function checkGeneralInvariants(files: readonly TfFile[]): string[] {
  return [...checkNoServiceAccountKeys(files), ...checkTokenCreatorGrants(files), ...checkWifProviders(files)];
}
