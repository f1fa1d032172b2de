/**
 * Offline checks of the project's Terraform against the hashicorp/google provider schema
 * (`terraform providers schema -json`), for machines where `terraform init` cannot download
 * providers. Files are parsed with @cdktf/hcl2json (HCL to JSON, WASM).
 *
 * For every `resource`, `data` and `ephemeral` block of a google type, and every
 * `provider "google"` block:
 *   - the type exists in the schema;
 *   - every argument and every nested block exists (recursively through `block_types`, including
 *     `dynamic "x" { content { } }`, which must name a nested block type);
 *   - every required attribute is set (not null), every block with `min_items` is present;
 *   - no computed-only attribute (computed and not optional) is assigned;
 *   - literal values fit the attribute's type, and literal strings are among the values the
 *     attribute's description enumerates ("Possible values: [...]" and the prose variants);
 *   - meta-arguments (count, for_each, provider, depends_on, lifecycle, connection, provisioner)
 *     are accepted at the top level only, and `lifecycle.ignore_changes` names real arguments.
 * hcl2json renders a nested block and a list-of-objects attribute the same way (an array of
 * objects), so whether a name is a block or an argument is decided by the schema.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { parse } from '@cdktf/hcl2json';

// ---------------------------------------------------------------------------------------------
// JSON and schema shapes

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export interface SchemaAttribute {
  type?: unknown;
  description?: string;
  required?: boolean;
  optional?: boolean;
  computed?: boolean;
  deprecated?: boolean;
  sensitive?: boolean;
}

export interface SchemaBlockType {
  nesting_mode: 'single' | 'group' | 'list' | 'set' | 'map';
  min_items?: number;
  max_items?: number;
  block: SchemaBlock;
}

export interface SchemaBlock {
  attributes?: Record<string, SchemaAttribute>;
  block_types?: Record<string, SchemaBlockType>;
  deprecated?: boolean;
}

export interface ProviderSchema {
  provider: { block: SchemaBlock };
  resource_schemas: Record<string, { block: SchemaBlock }>;
  data_source_schemas: Record<string, { block: SchemaBlock }>;
  ephemeral_resource_schemas?: Record<string, { block: SchemaBlock }>;
}

export const GOOGLE_PROVIDER = 'registry.terraform.io/hashicorp/google';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const TERRAFORM_ROOT = join(REPO_ROOT, 'terraform');

/** TOKEN_BROKER_GOOGLE_SCHEMA, else ../shared/terraform/google-provider-7.9.0.schema.json beside the repository. */
export function schemaPath(): string {
  const fromEnv = process.env.TOKEN_BROKER_GOOGLE_SCHEMA;
  if (fromEnv) return resolve(REPO_ROOT, fromEnv);
  return resolve(REPO_ROOT, '..', 'shared', 'terraform', 'google-provider-7.9.0.schema.json');
}

let schemaCache: { path: string; schema: ProviderSchema } | undefined;

/** Loads the google provider's schema; throws a plain message when the shared file is missing. */
export function loadGoogleSchema(path = schemaPath()): ProviderSchema {
  if (schemaCache?.path === path) return schemaCache.schema;
  if (!existsSync(path)) {
    throw new Error(
      `The shared google provider schema is missing: ${path} does not exist. ` +
        'It is the output of `terraform providers schema -json` for hashicorp/google 7.9.0, kept in ../shared/terraform/ ' +
        '(never in this repository); set TOKEN_BROKER_GOOGLE_SCHEMA to use another path.',
    );
  }
  const document = JSON.parse(readFileSync(path, 'utf8')) as { provider_schemas?: Record<string, ProviderSchema> };
  const schema = document.provider_schemas?.[GOOGLE_PROVIDER];
  if (!schema) throw new Error(`${path} holds no schema for ${GOOGLE_PROVIDER}`);
  schemaCache = { path, schema };
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Parsing

export interface TfFile {
  /** Path relative to the repository root (or to the root given to parseTerraformTree), with '/'. */
  file: string;
  /** Directory of the file relative to the same root: a module or an example. */
  dir: string;
  text: string;
  json: JsonObject;
}

export interface ParseResult {
  files: TfFile[];
  errors: { file: string; message: string }[];
}

/** Every *.tf file under `dir`, sorted, skipping .terraform folders. */
export function findTfFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      if (name === '.terraform' || name.startsWith('.')) continue;
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.tf')) out.push(full);
    }
  };
  walk(dir);
  return out;
}

const toPosix = (p: string): string => p.split(sep).join('/');

/**
 * Parses every .tf file under `dir` once. Paths in the result are relative to `base`
 * (the repository root by default), so findings read `terraform/modules/x/main.tf:...`.
 */
export async function parseTerraformTree(dir: string, base = REPO_ROOT): Promise<ParseResult> {
  const files: TfFile[] = [];
  const errors: ParseResult['errors'] = [];
  for (const full of findTfFiles(dir)) {
    const file = toPosix(relative(base, full));
    const text = readFileSync(full, 'utf8');
    try {
      // Sequential on purpose: one WASM instance answers the calls.
      const json = (await parse(file, text)) as JsonObject;
      files.push({ file, dir: file.slice(0, file.lastIndexOf('/')), text, json });
    } catch (err) {
      errors.push({ file, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return { files, errors };
}

// ---------------------------------------------------------------------------------------------
// Blocks of a parsed configuration

export type BlockKind = 'resource' | 'data' | 'ephemeral';

export interface TfBlock {
  file: string;
  dir: string;
  kind: BlockKind;
  type: string;
  name: string;
  body: JsonObject;
}

export const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isObjectArray = (v: Json | undefined): v is JsonObject[] => Array.isArray(v) && v.every((x) => isObject(x));

/** All resource / data / ephemeral blocks, in file order. */
export function blocksOf(files: readonly TfFile[], kinds: readonly BlockKind[] = ['resource', 'data', 'ephemeral']): TfBlock[] {
  const out: TfBlock[] = [];
  for (const f of files) {
    // Scoped data sources of check {} blocks count as well.
    const scopes: JsonObject[] = [f.json];
    const checks = f.json.check;
    if (isObject(checks)) for (const bodies of Object.values(checks)) for (const c of Array.isArray(bodies) ? bodies : [bodies]) if (isObject(c)) scopes.push(c);
    for (const scope of scopes) for (const kind of kinds) {
      const byType = scope[kind];
      if (!isObject(byType)) continue;
      for (const [type, byName] of Object.entries(byType)) {
        if (!isObject(byName)) continue;
        for (const [name, bodies] of Object.entries(byName)) {
          const list = Array.isArray(bodies) ? bodies : [bodies];
          for (const body of list) if (isObject(body)) out.push({ file: f.file, dir: f.dir, kind, type, name, body });
        }
      }
    }
  }
  return out;
}

/** `type.name` for resources, `data.type.name` for data sources, as Terraform addresses them. */
export function addressOf(b: Pick<TfBlock, 'kind' | 'type' | 'name'>): string {
  return b.kind === 'resource' ? `${b.type}.${b.name}` : `${b.kind}.${b.type}.${b.name}`;
}

// ---------------------------------------------------------------------------------------------
// Findings

export type FindingKind =
  | 'unknown-type'
  | 'unknown-argument'
  | 'unknown-block'
  | 'missing-required'
  | 'missing-block'
  | 'too-many-blocks'
  | 'computed-only'
  | 'invalid-enum'
  | 'type-mismatch'
  | 'not-a-block'
  | 'bad-dynamic'
  | 'bad-meta'
  | 'duplicate'
  | 'deprecated'
  | 'unchecked';

export interface Finding {
  kind: FindingKind;
  severity: 'error' | 'warning' | 'info';
  file: string;
  /** Terraform address of the block, e.g. google_logging_metric.denials. */
  address: string;
  /** Dotted path of the argument inside the block ('' for the block itself). */
  path: string;
  message: string;
}

export function formatFinding(f: Finding): string {
  return `${f.file}:${f.address}${f.path ? `:${f.path}` : ''}: ${f.message} [${f.kind}]`;
}

// ---------------------------------------------------------------------------------------------
// Enumerations in descriptions

const IDENT = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const UPPER_IDENT = /^[A-Z][A-Z0-9_]*$/;

/** Splits "A, B, or C" / "'A', 'B'" / "* A * B" into tokens, or undefined when it is prose. */
function listTokens(raw: string, unquotedPattern: RegExp): string[] | undefined {
  const text = raw.trim();
  if (!text) return undefined;
  let parts: string[];
  if (text.startsWith('*')) {
    parts = text.split('*').map((s) => s.trim()).filter(Boolean);
  } else {
    parts = text
      .split(/\s*,\s*|\s+or\s+|\s+and\s+/)
      .map((s) => s.replace(/^(or|and)\s+/, '').trim())
      .filter(Boolean);
  }
  const values: string[] = [];
  for (const part of parts) {
    const quoted = /^(['"])(.*)\1$/.exec(part);
    if (quoted) {
      if (quoted[2] === undefined || quoted[2] === '') return undefined;
      values.push(quoted[2]);
    } else if (unquotedPattern.test(part)) {
      values.push(part);
    } else {
      return undefined;
    }
  }
  return values.length > 0 ? values : undefined;
}

/**
 * The values an attribute's description enumerates, or undefined. The provider's generated
 * descriptions end with `Possible values: ["A", "B"]`; hand-written ones say
 * `Possible values are: "A", "B"` (or `'A'`, or `* A * B`), or `Must be one of A, B, or C.`
 * Only lists of plain identifiers are taken; prose is not guessed at.
 */
export function enumValues(description: string | undefined): string[] | undefined {
  if (!description) return undefined;
  const generated = /Possible values: \[([^\]]*)\]/.exec(description);
  if (generated?.[1] !== undefined) {
    try {
      const values = JSON.parse(`[${generated[1]}]`) as unknown;
      if (Array.isArray(values) && values.length > 0 && values.every((v) => typeof v === 'string')) return values as string[];
    } catch {
      // fall through to the prose forms
    }
  }
  const prose = /Possible values are:?\s+(.*?)(?:\.(?:\s|$|')|$)/.exec(description);
  if (prose?.[1] !== undefined) {
    const values = listTokens(prose[1], IDENT);
    if (values) return values;
  }
  const mustBe = /Must be one of\s+(.*?)(?:\.(?:\s|$)|$)/.exec(description);
  if (mustBe?.[1] !== undefined) {
    const values = listTokens(mustBe[1], UPPER_IDENT);
    if (values) return values;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The checker

/** A string with no interpolation or template directive: a literal. */
export const isLiteralString = (v: Json | undefined): v is string => typeof v === 'string' && !v.includes('${') && !v.includes('%{');
/** A whole-value expression such as "${var.x}". */
export const isExpression = (v: Json | undefined): boolean => typeof v === 'string' && (v.includes('${') || v.includes('%{'));

const RESOURCE_META = new Set(['count', 'for_each', 'provider', 'depends_on', 'lifecycle', 'connection', 'provisioner']);
const DATA_META = new Set(['count', 'for_each', 'provider', 'depends_on', 'lifecycle']);
const RESOURCE_LIFECYCLE = new Set(['create_before_destroy', 'prevent_destroy', 'ignore_changes', 'replace_triggered_by', 'precondition', 'postcondition']);
const DATA_LIFECYCLE = new Set(['precondition', 'postcondition']);
const DYNAMIC_KEYS = new Set(['for_each', 'iterator', 'labels', 'content']);

interface Ctx {
  file: string;
  address: string;
  findings: Finding[];
  /** The module's variable declarations, to check literal defaults behind "${var.x}". */
  variables?: Map<string, JsonObject>;
}

/** Variable declarations of every directory. */
function variablesByDir(files: readonly TfFile[]): Map<string, Map<string, JsonObject>> {
  const out = new Map<string, Map<string, JsonObject>>();
  for (const f of files) {
    const vars = f.json.variable;
    if (!isObject(vars)) continue;
    const map = out.get(f.dir) ?? new Map<string, JsonObject>();
    for (const [name, bodies] of Object.entries(vars)) {
      const body = Array.isArray(bodies) ? bodies[0] : bodies;
      if (isObject(body)) map.set(name, body);
    }
    out.set(f.dir, map);
  }
  return out;
}

/**
 * The literal default behind "${var.x}" or "${var.x.attr}" (the attribute from the default
 * object, else from `attr = optional(type, DEFAULT)` in the variable's type), or undefined.
 */
export function variableDefault(value: Json, variables: Map<string, JsonObject> | undefined): { name: string; value: string } | undefined {
  if (typeof value !== 'string' || !variables) return undefined;
  const m = /^\$\{\s*var\.([A-Za-z_][A-Za-z0-9_-]*)(?:\.([A-Za-z_][A-Za-z0-9_-]*))?\s*\}$/.exec(value);
  if (!m?.[1]) return undefined;
  const decl = variables.get(m[1]);
  if (!decl || !('default' in decl)) return undefined;
  const name = m[2] ? `var.${m[1]}.${m[2]}` : `var.${m[1]}`;
  let v: Json | undefined = decl.default;
  if (m[2]) {
    if (isObject(v ?? null) && m[2] in (v as JsonObject)) v = (v as JsonObject)[m[2]];
    else {
      const type = typeof decl.type === 'string' ? decl.type : '';
      const opt = new RegExp(`\\b${m[2]}\\s*=\\s*optional\\(\\s*string\\s*,\\s*("(?:[^"\\\\]|\\\\.)*")\\s*\\)`).exec(type);
      v = opt?.[1] ? (JSON.parse(opt[1]) as string) : undefined;
    }
  }
  return isLiteralString(v) ? { name, value: v } : undefined;
}

function add(ctx: Ctx, kind: FindingKind, path: readonly string[], message: string, severity: Finding['severity'] = 'error'): void {
  ctx.findings.push({ kind, severity, file: ctx.file, address: ctx.address, path: path.join('.'), message });
}

function typeName(type: unknown): string {
  return JSON.stringify(type);
}

/** Checks a literal value against a schema type; expressions and nulls are left to Terraform. */
function checkLiteralType(ctx: Ctx, path: readonly string[], type: unknown, value: Json): void {
  if (value === null || isExpression(value)) return;
  const bad = (what: string): void => add(ctx, 'type-mismatch', path, `${what} where the schema expects ${typeName(type)}`);
  if (type === 'string') {
    if (typeof value === 'object') bad(Array.isArray(value) ? 'a list' : 'an object');
  } else if (type === 'number') {
    if (typeof value === 'string' ? !/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(value) : typeof value !== 'number') bad(`${JSON.stringify(value)}`);
  } else if (type === 'bool') {
    if (typeof value === 'string' ? value !== 'true' && value !== 'false' : typeof value !== 'boolean') bad(`${JSON.stringify(value)}`);
  } else if (Array.isArray(type)) {
    const [kind, inner] = type as [string, unknown];
    if (kind === 'list' || kind === 'set') {
      if (!Array.isArray(value)) bad(typeof value === 'object' ? 'an object' : `${JSON.stringify(value)}`);
      else value.forEach((v, i) => checkLiteralType(ctx, [...path, String(i)], inner, v));
    } else if (kind === 'map') {
      if (!isObject(value)) bad(Array.isArray(value) ? 'a list' : `${JSON.stringify(value)}`);
      else for (const [k, v] of Object.entries(value)) checkLiteralType(ctx, [...path, k], inner, v);
    } else if (kind === 'object') {
      if (!isObject(value)) bad(Array.isArray(value) ? 'a list' : `${JSON.stringify(value)}`);
    }
  }
}

function checkEnum(ctx: Ctx, path: readonly string[], attr: SchemaAttribute, value: Json): void {
  const allowed = enumValues(attr.description);
  if (!allowed) return;
  const check = (v: Json, p: readonly string[]): void => {
    if (isLiteralString(v) && !allowed.includes(v)) {
      add(ctx, 'invalid-enum', p, `"${v}" is not one of the documented values: ${allowed.join(', ')}`);
      return;
    }
    const fallback = variableDefault(v, ctx.variables);
    if (fallback && !allowed.includes(fallback.value)) {
      add(ctx, 'invalid-enum', p, `the default of ${fallback.name}, "${fallback.value}", is not one of the documented values: ${allowed.join(', ')}`);
    }
  };
  if (attr.type === 'string') check(value, path);
  else if (Array.isArray(attr.type) && (attr.type[0] === 'list' || attr.type[0] === 'set') && attr.type[1] === 'string' && Array.isArray(value)) {
    value.forEach((v, i) => check(v, [...path, String(i)]));
  }
}

/** First name of an ignore_changes / replace_triggered_by entry: "${labels[\"x\"]}" -> labels. */
function referenceHead(v: Json): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_-]*)/.exec(v) ?? /^([A-Za-z_][A-Za-z0-9_-]*)/.exec(v);
  return m?.[1];
}

function checkLifecycle(ctx: Ctx, kind: BlockKind, value: Json, schema: SchemaBlock): void {
  const allowed = kind === 'resource' ? RESOURCE_LIFECYCLE : DATA_LIFECYCLE;
  if (!isObjectArray(value) || value.length !== 1) {
    add(ctx, 'bad-meta', ['lifecycle'], 'lifecycle must be a single block');
    return;
  }
  const body = value[0] as JsonObject;
  for (const [key, v] of Object.entries(body)) {
    if (!allowed.has(key)) {
      add(ctx, 'bad-meta', ['lifecycle', key], `"${key}" is not a lifecycle argument of a ${kind} block`);
      continue;
    }
    if (key === 'ignore_changes') {
      if (v === '${all}' || v === 'all') continue;
      if (!Array.isArray(v)) {
        add(ctx, 'bad-meta', ['lifecycle', key], 'ignore_changes must be a list of argument names or all');
        continue;
      }
      for (const entry of v) {
        const head = referenceHead(entry);
        if (!head || (!schema.attributes?.[head] && !schema.block_types?.[head])) {
          add(ctx, 'bad-meta', ['lifecycle', key], `ignore_changes names ${JSON.stringify(entry)}, which is not an argument of this resource`);
        }
      }
    }
  }
}

function checkBody(ctx: Ctx, body: JsonObject, schema: SchemaBlock, path: readonly string[], topKind?: BlockKind): void {
  const attrs = schema.attributes ?? {};
  const blocks = schema.block_types ?? {};
  const staticCount = new Map<string, number>();
  const dynamicSeen = new Set<string>();
  const meta = topKind === undefined ? undefined : topKind === 'resource' ? RESOURCE_META : DATA_META;

  for (const [key, value] of Object.entries(body)) {
    const here = [...path, key];
    if (meta?.has(key)) {
      if (key === 'lifecycle' && topKind) checkLifecycle(ctx, topKind, value, schema);
      if (key === 'depends_on' && !Array.isArray(value)) add(ctx, 'bad-meta', here, 'depends_on must be a list of references');
      if (key === 'count' && typeof value === 'string' && !isExpression(value)) add(ctx, 'bad-meta', here, 'count must be a number');
      continue;
    }
    if (key === 'dynamic') {
      if (!isObject(value)) {
        add(ctx, 'bad-dynamic', here, 'dynamic must be a labelled block: dynamic "NAME" { for_each = ... content { } }');
        continue;
      }
      for (const [label, dynamics] of Object.entries(value)) {
        const dynPath = [...path, `dynamic.${label}`];
        const blockType = blocks[label];
        if (!blockType) {
          add(ctx, 'unknown-block', dynPath, `dynamic "${label}" does not map to a nested block type here${attrs[label] ? ` ("${label}" is an argument, not a block)` : ''}`);
          continue;
        }
        dynamicSeen.add(label);
        for (const dyn of Array.isArray(dynamics) ? dynamics : [dynamics]) {
          if (!isObject(dyn)) {
            add(ctx, 'bad-dynamic', dynPath, 'a dynamic block must be a block');
            continue;
          }
          for (const k of Object.keys(dyn)) if (!DYNAMIC_KEYS.has(k)) add(ctx, 'bad-dynamic', [...dynPath, k], `"${k}" is not an argument of a dynamic block (for_each, iterator, labels, content)`);
          if (!('for_each' in dyn)) add(ctx, 'bad-dynamic', dynPath, 'dynamic block without for_each');
          const content = dyn.content;
          if (!isObjectArray(content) || content.length !== 1) {
            add(ctx, 'bad-dynamic', dynPath, 'dynamic block needs exactly one content block');
            continue;
          }
          checkBody(ctx, content[0] as JsonObject, blockType.block, [...path, label]);
        }
      }
      continue;
    }
    const attr = attrs[key];
    if (attr) {
      if (attr.computed && !attr.optional && !attr.required) {
        add(ctx, 'computed-only', here, `"${key}" is computed by the provider (read-only) and cannot be assigned`);
        continue;
      }
      if (attr.deprecated) add(ctx, 'deprecated', here, `"${key}" is deprecated in the provider schema`, 'warning');
      if (attr.type !== undefined) checkLiteralType(ctx, here, attr.type, value);
      checkEnum(ctx, here, attr, value);
      continue;
    }
    const blockType = blocks[key];
    if (blockType) {
      if (!isObjectArray(value)) {
        add(ctx, 'not-a-block', here, `"${key}" is a nested block: write ${key} { ... } or dynamic "${key}" { ... }, not ${key} = ...`);
        continue;
      }
      staticCount.set(key, (staticCount.get(key) ?? 0) + value.length);
      if (blockType.block.deprecated) add(ctx, 'deprecated', here, `block "${key}" is deprecated in the provider schema`, 'warning');
      for (const item of value) checkBody(ctx, item, blockType.block, here);
      continue;
    }
    if (isObjectArray(value) && value.length > 0) add(ctx, 'unknown-block', here, `"${key}" is neither an argument nor a nested block of this ${path.length ? 'block' : 'resource type'}`);
    else add(ctx, 'unknown-argument', here, `"${key}" is not an argument of this ${path.length ? 'block' : 'resource type'}`);
  }

  for (const [name, attr] of Object.entries(attrs)) {
    if (attr.required && (!(name in body) || body[name] === null)) add(ctx, 'missing-required', [...path, name], `required argument "${name}" is not set`);
  }
  for (const [name, blockType] of Object.entries(blocks)) {
    const count = staticCount.get(name) ?? 0;
    const min = blockType.min_items ?? 0;
    if (min > 0 && count < min && !dynamicSeen.has(name)) add(ctx, 'missing-block', [...path, name], `required block "${name}" is missing (at least ${min})`);
    const max = blockType.nesting_mode === 'single' || blockType.nesting_mode === 'group' ? 1 : blockType.max_items;
    if (max !== undefined && max > 0 && count > max) add(ctx, 'too-many-blocks', [...path, name], `at most ${max} "${name}" block(s) allowed, found ${count}`);
  }
}

/** true when the block's provider meta-argument points at another provider (e.g. google-beta). */
function otherProvider(body: JsonObject): string | undefined {
  const p = body.provider;
  if (typeof p !== 'string') return undefined;
  const name = /^\$\{([A-Za-z0-9_-]+)/.exec(p)?.[1] ?? p.split('.')[0];
  return name === 'google' ? undefined : name;
}

/** Runs the schema checks over parsed files; returns every finding (errors, warnings, notes). */
export function checkTerraform(files: readonly TfFile[], schema: ProviderSchema): Finding[] {
  const findings: Finding[] = [];
  const seen = new Map<string, string>();
  const variables = variablesByDir(files);
  for (const block of blocksOf(files)) {
    const address = addressOf(block);
    const ctx: Ctx = { file: block.file, address, findings, variables: variables.get(block.dir) };
    const key = `${block.dir}/${address}`;
    const previous = seen.get(key);
    if (previous) add(ctx, 'duplicate', [], `${address} is also declared in ${previous}`);
    seen.set(key, block.file);

    if (!block.type.startsWith('google_')) {
      add(ctx, 'unchecked', [], `${block.type} is not a hashicorp/google type; not checked`, 'info');
      continue;
    }
    const other = otherProvider(block.body);
    if (other) {
      add(ctx, 'unchecked', [], `uses provider ${other}, whose schema is not available; not checked`, 'info');
      continue;
    }
    const table = block.kind === 'resource' ? schema.resource_schemas : block.kind === 'data' ? schema.data_source_schemas : (schema.ephemeral_resource_schemas ?? {});
    const typeSchema = table[block.type];
    if (!typeSchema) {
      add(ctx, 'unknown-type', [], `${block.kind} type ${block.type} does not exist in hashicorp/google 7.9.0`);
      continue;
    }
    if (typeSchema.block.deprecated) add(ctx, 'deprecated', [], `${block.type} is deprecated`, 'warning');
    checkBody(ctx, block.body, typeSchema.block, [], block.kind);
  }

  for (const f of files) {
    const providers = f.json.provider;
    if (!isObject(providers)) continue;
    for (const [name, bodies] of Object.entries(providers)) {
      if (name !== 'google') continue;
      for (const body of Array.isArray(bodies) ? bodies : [bodies]) {
        if (!isObject(body)) continue;
        const ctx: Ctx = { file: f.file, address: 'provider.google', findings };
        const { alias: _alias, version: _version, ...rest } = body;
        checkBody(ctx, rest, schema.provider.block, []);
      }
    }
  }
  return findings;
}

export const errorsOf = (findings: readonly Finding[]): Finding[] => findings.filter((f) => f.severity === 'error');

// ---------------------------------------------------------------------------------------------
// Module calls (what `terraform validate` would check between a caller and a local module)

const MODULE_META = new Set(['source', 'version', 'count', 'for_each', 'providers', 'depends_on']);

/** Joins a module directory and a relative source, posix style: a/b + ../c -> a/c. */
function joinPosix(dir: string, rel: string): string {
  const parts = dir.split('/');
  for (const seg of rel.replace(/\/+$/, '').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}

/**
 * For every `module` block with a local source: each argument is a variable of the module, each
 * variable without a default is passed, and each `module.NAME.OUTPUT` reference in the caller's
 * directory names an output of the module.
 */
export function checkModuleCalls(files: readonly TfFile[]): Finding[] {
  const findings: Finding[] = [];
  const byDir = new Map<string, TfFile[]>();
  for (const f of files) byDir.set(f.dir, [...(byDir.get(f.dir) ?? []), f]);
  const names = (dir: string, kind: 'variable' | 'output'): Map<string, JsonObject> => {
    const out = new Map<string, JsonObject>();
    for (const f of byDir.get(dir) ?? []) {
      const blocks = f.json[kind];
      if (!isObject(blocks)) continue;
      for (const [name, bodies] of Object.entries(blocks)) {
        const body = Array.isArray(bodies) ? bodies[0] : bodies;
        out.set(name, isObject(body) ? body : {});
      }
    }
    return out;
  };
  for (const f of files) {
    const modules = f.json.module;
    if (!isObject(modules)) continue;
    for (const [name, bodies] of Object.entries(modules)) {
      for (const body of Array.isArray(bodies) ? bodies : [bodies]) {
        if (!isObject(body) || typeof body.source !== 'string' || !/^\.\.?\//.test(body.source)) continue;
        const ctx: Ctx = { file: f.file, address: `module.${name}`, findings };
        const target = joinPosix(f.dir, body.source);
        if (!byDir.has(target)) {
          add(ctx, 'unknown-type', ['source'], `module source ${body.source} (${target}) holds no .tf file`);
          continue;
        }
        const variables = names(target, 'variable');
        for (const key of Object.keys(body)) {
          if (!MODULE_META.has(key) && !variables.has(key)) add(ctx, 'unknown-argument', [key], `"${key}" is not a variable of ${target}`);
        }
        for (const [v, decl] of variables) {
          if (!('default' in decl) && !(v in body)) add(ctx, 'missing-required', [v], `variable "${v}" of ${target} has no default and is not passed`);
        }
        const outputs = names(target, 'output');
        const callerText = (byDir.get(f.dir) ?? []).map((x) => x.text).join('\n');
        for (const m of callerText.matchAll(new RegExp(`\\bmodule\\.${name}\\.([A-Za-z_][A-Za-z0-9_-]*)`, 'g'))) {
          if (m[1] && !outputs.has(m[1])) add(ctx, 'unknown-argument', [m[1]], `module.${name}.${m[1]} is not an output of ${target}`);
        }
      }
    }
  }
  // One finding per distinct message.
  const seen = new Set<string>();
  return findings.filter((x) => (seen.has(formatFinding(x)) ? false : (seen.add(formatFinding(x)), true)));
}
