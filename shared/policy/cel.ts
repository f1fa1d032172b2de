/**
 * CEL rule conditions over verified JWT claims, the same idea as a Google Workload Identity
 * Federation `attribute_condition`. Built on `@bufbuild/cel` (cel-es), which runs the cel-spec
 * conformance suite and matches with an RE2 engine, so `matches()` has the syntax cel-go/WIF
 * accept and runs in linear time on attacker-controlled claim values.
 *
 * What a condition sees:
 * - `claims`: the token's claims as `map(string, dyn)`; `assertion` is the same map, so
 *   conditions copied from WIF (`assertion.sub == '...'`) work unchanged.
 * - `client`: the client that authenticated the request (`client_id`, `auth_method`, and
 *   `api_key_id` for API keys), or an empty map when none did: `client.client_id == 'web'`
 *   is then an error, i.e. "not matched", and `has(client.client_id)` is false.
 * - JSON numbers that are safe integers are CEL `int` (so `claims.iat + 60 < claims.exp`
 *   works); other numbers are `double`. A JSON `1.0` is therefore an `int`. Comparisons mix
 *   int and double freely (`claims.exp > 5.0`), arithmetic does not (`claims.ratio * 2` fails
 *   when `ratio` is a double: write `2.0`).
 * - Objects become CEL maps (key lookups are own keys only, so `__proto__` or `constructor`
 *   are plain keys); arrays become lists.
 * - The standard library plus the cel-go `strings` extension (`lowerAscii`, `split`, ...).
 *
 * Compiling rejects syntax errors. cel-es does not export a type checker yet, so a walk of
 * the parsed AST here also rejects identifiers other than `claims`/`assertion`/`client` (comprehension
 * variables and type names aside), functions or methods that do not exist with that many
 * arguments, and literal `matches()` patterns RE2 does not accept. Type errors inside `dyn`
 * values (`claims.sub < 1`) can only show at evaluation. Evaluating never throws: a runtime
 * error or a non-boolean result is "not matched".
 */
import { LRUCache } from 'lru-cache';
import { celEnv, celType, CelScalar, isCelError, mapType, parse, plan, type CelEnv } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { RE2JS } from '@bufbuild/re2';
import { DEFAULTS } from '../config/defaults';

/** A condition that cannot be compiled: syntax error, unknown variable or function, ... */
export class CelConditionError extends Error {
  /** 0-based character offset into the condition, when known. */
  readonly position?: number;

  constructor(message: string, position?: number) {
    super(message);
    this.name = 'CelConditionError';
    if (position !== undefined) this.position = position;
  }
}

export type CelOutcome = { matched: true } | { matched: false; reason: 'false' | 'error' | 'not_bool'; detail?: string };

export interface CompiledCondition {
  readonly source: string;
  /** Evaluates against verified claims and the authenticated client's, if any. Never throws. */
  evaluate(claims: Readonly<Record<string, unknown>>, client?: Readonly<Record<string, unknown>>): CelOutcome;
}

type ParsedExpr = ReturnType<typeof parse>;
type Expr = ParsedExpr['expr'];
type ExprKind<C extends Expr['exprKind']['case']> = Extract<Expr['exprKind'], { case: C }>['value'];

/** The variables a condition may reference. */
const VARIABLES = ['claims', 'assertion', 'client'] as const;
/** Type names usable as values, e.g. `type(claims.exp) == int`. */
const TYPE_NAMES = new Set(['bool', 'bytes', 'double', 'int', 'list', 'map', 'null_type', 'string', 'type', 'uint']);
/** Calls the cel-es planner implements itself rather than through its function registry. */
const SPECIAL_FORMS = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '@not_strictly_false', '__not_strictly_false__']);

const MATCHED: CelOutcome = Object.freeze({ matched: true });
const NO_CLIENT: Readonly<Record<string, unknown>> = Object.freeze(Object.create(null) as Record<string, unknown>);
const NOT_MATCHED: CelOutcome = Object.freeze({ matched: false, reason: 'false' });

let env: CelEnv | undefined;
/** The environment, built on first use (about 1 ms). */
function getEnv(): CelEnv {
  if (env === undefined) {
    const claimsType = mapType(CelScalar.STRING, CelScalar.DYN);
    env = celEnv({ variables: { claims: claimsType, assertion: claimsType, client: claimsType }, funcs: strings, re2: cachedRe2() });
  }
  return env;
}

/**
 * The RE2 engine cel-es uses by default, with compiled patterns kept: cel-es would otherwise
 * recompile the pattern on every evaluation (about 20 µs each).
 */
function cachedRe2(): { compile(pattern: string): { test(text: string): boolean } } {
  const cache = new LRUCache<string, { test(text: string): boolean }>({ max: DEFAULTS.celCachedPatterns });
  return {
    compile(pattern: string) {
      let matcher = cache.get(pattern);
      if (matcher === undefined) {
        const compiled = RE2JS.compile(pattern);
        matcher = { test: (text: string) => compiled.test(text) };
        cache.set(pattern, matcher);
      }
      return matcher;
    },
  };
}

/** Runs `matches()` on a pattern with the same RE2 engine, to vet literal patterns. */
let regexProbe: ((bindings: { claims: ReadonlyMap<string, ClaimValue> }) => unknown) | undefined;

/** Parses and checks a condition. Throws CelConditionError when it cannot be used. */
export function compileCondition(source: string): CompiledCondition {
  const parsed = parseOrThrow(source);
  const celEnvironment = getEnv();
  let program: (bindings: { claims: ClaimValue; assertion: ClaimValue; client: ClaimValue }) => unknown;
  try {
    new NameChecker(source, parsed, celEnvironment).check(parsed.expr, new Set(VARIABLES));
    program = plan(celEnvironment, parsed);
  } catch (err) {
    if (err instanceof CelConditionError) throw err;
    throw new CelConditionError(errorMessage(err)); // e.g. a stack overflow on absurd nesting
  }
  return Object.freeze({
    source,
    evaluate(claims: Readonly<Record<string, unknown>>, client: Readonly<Record<string, unknown>> = NO_CLIENT): CelOutcome {
      let result: unknown;
      try {
        const input = toClaimValue(claims, 0);
        result = program({ claims: input, assertion: input, client: toClaimValue(client, 0) });
      } catch (err) {
        return { matched: false, reason: 'error', detail: errorMessage(err) };
      }
      if (result === true) return MATCHED;
      if (result === false) return NOT_MATCHED;
      if (isCelError(result)) {
        const at = result.exprId === undefined ? undefined : parsed.sourceInfo?.positions[String(result.exprId)];
        return { matched: false, reason: 'error', detail: result.message + (at === undefined ? '' : ` (${where(source, at)})`) };
      }
      return { matched: false, reason: 'not_bool', detail: `condition evaluated to ${typeName(result)}, not bool` };
    },
  });
}

function parseOrThrow(source: string): ParsedExpr {
  try {
    return parse(source);
  } catch (err) {
    // cel-es throws a peggy syntax error: `<input>:L:C: found ... but expecting ...`.
    const offset = (err as { location?: { start?: { offset?: unknown } } }).location?.start?.offset;
    const detail = errorMessage(err).replace(/^<input>:\d+:\d+: /, '');
    if (typeof offset !== 'number') throw new CelConditionError(`syntax error: ${detail}`);
    throw new CelConditionError(`syntax error at ${where(source, offset)}: ${detail}`, offset);
  }
}

/** Rejects references to undeclared identifiers and to functions that do not exist. */
class NameChecker {
  constructor(
    private readonly source: string,
    private readonly parsed: ParsedExpr,
    private readonly env: CelEnv,
  ) {}

  check(expr: Expr | undefined, scope: ReadonlySet<string>): void {
    if (expr === undefined) return;
    const kind = expr.exprKind;
    switch (kind.case) {
      case 'constExpr':
        return;
      case 'identExpr':
        if (!scope.has(kind.value.name) && !TYPE_NAMES.has(kind.value.name)) {
          this.fail(expr, `undeclared reference to '${kind.value.name}' (only ${VARIABLES.slice(0, -1).join(', ')} and ${VARIABLES.at(-1)} are defined)`);
        }
        return;
      case 'selectExpr':
        return this.check(kind.value.operand, scope);
      case 'callExpr':
        return this.checkCall(expr, kind.value, scope);
      case 'listExpr':
        for (const element of kind.value.elements) this.check(element, scope);
        return;
      case 'structExpr':
        if (kind.value.messageName !== '') this.fail(expr, `message construction '${kind.value.messageName}{...}' is not supported`);
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case === 'mapKey') this.check(entry.keyKind.value, scope);
          this.check(entry.value, scope);
        }
        return;
      case 'comprehensionExpr':
        return this.checkComprehension(kind.value, scope);
      default:
        this.fail(expr, 'unsupported expression');
    }
  }

  private checkCall(expr: Expr, call: ExprKind<'callExpr'>, scope: ReadonlySet<string>): void {
    const arity = call.args.length;
    if (SPECIAL_FORMS.has(call.function)) {
      // nothing to resolve
    } else if (call.target !== undefined && this.isFunction(`${qualifiedName(call.target)}.${call.function}`, false, arity)) {
      // a namespaced global function such as `strings.quote(x)`: the target is not a value
      for (const arg of call.args) this.check(arg, scope);
      return;
    } else if (!this.isFunction(call.function, call.target !== undefined, arity)) {
      const what = call.target !== undefined ? `method '.${call.function}()'` : `function '${call.function}()'`;
      const known = this.env.funcs.find(call.function) !== undefined;
      this.fail(expr, known ? `no overload of ${what} takes ${arity} argument(s)` : `unknown ${what}`);
    }
    if (call.function === 'matches') this.checkPattern(call.target === undefined ? call.args[1] : call.args[0]);
    this.check(call.target, scope);
    for (const arg of call.args) this.check(arg, scope);
  }

  /** A literal `matches()` pattern must compile, as cel-go checks at compile time too. */
  private checkPattern(pattern: Expr | undefined): void {
    const kind = pattern?.exprKind;
    if (pattern === undefined || kind?.case !== 'constExpr' || kind.value.constantKind.case !== 'stringValue') return;
    regexProbe ??= plan(this.env, parse("'' .matches(claims.pattern)"));
    const result = regexProbe({ claims: new Map([['pattern', kind.value.constantKind.value]]) });
    if (isCelError(result)) this.fail(pattern, `invalid regular expression: ${result.message}`);
  }

  private checkComprehension(loop: ExprKind<'comprehensionExpr'>, scope: ReadonlySet<string>): void {
    this.check(loop.iterRange, scope);
    this.check(loop.accuInit, scope);
    const inner = new Set(scope);
    for (const name of [loop.iterVar, loop.iterVar2, loop.accuVar]) if (name !== '') inner.add(name);
    this.check(loop.loopCondition, inner);
    this.check(loop.loopStep, inner);
    this.check(loop.result, inner);
  }

  private isFunction(name: string, isMethod: boolean, arity: number): boolean {
    const group = this.env.funcs.find(name);
    if (group === undefined) return false;
    for (const fn of group) if ((fn.target !== undefined) === isMethod && fn.arguments.length === arity) return true;
    return false;
  }

  private fail(expr: Expr, message: string): never {
    const at = this.parsed.sourceInfo?.positions[String(expr.id)];
    if (at === undefined) throw new CelConditionError(message);
    throw new CelConditionError(`${message} at ${where(this.source, at)}`, at);
  }
}

/** `a.b.c` for a chain of selects on an identifier, else '' (which names no function). */
function qualifiedName(expr: Expr): string {
  const kind = expr.exprKind;
  if (kind.case === 'identExpr') return kind.value.name;
  if (kind.case === 'selectExpr' && kind.value.operand !== undefined && !kind.value.testOnly) {
    const prefix = qualifiedName(kind.value.operand);
    return prefix === '' ? '' : `${prefix}.${kind.value.field}`;
  }
  return '';
}

type ClaimValue = string | boolean | bigint | number | null | readonly ClaimValue[] | ReadonlyMap<string, ClaimValue>;

/**
 * JSON claims to CEL input: safe integers to bigint (CEL int), objects to Map. A Map rather
 * than the object itself because cel-es detects plain objects through `value.constructor`,
 * which fails for prototype-free objects and for a claim literally named "constructor".
 */
function toClaimValue(value: unknown, depth: number): ClaimValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return value;
    case 'number':
      return Number.isSafeInteger(value) ? BigInt(value) : value;
    case 'object':
      break;
    default:
      throw new Error(`claims contain a ${typeof value} value, which CEL cannot represent`);
  }
  if (value === null) return null;
  if (depth >= DEFAULTS.celMaxClaimDepth) throw new Error(`claims are nested deeper than ${DEFAULTS.celMaxClaimDepth} levels`);
  if (Array.isArray(value)) return value.map((item: unknown) => toClaimValue(item, depth + 1));
  const map = new Map<string, ClaimValue>();
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) map.set(key, toClaimValue(item, depth + 1));
  }
  return map;
}

function typeName(value: unknown): string {
  try {
    return celType(value as Parameters<typeof celType>[0]).name;
  } catch {
    return typeof value;
  }
}

/** `line L, column C` (1-based) for a 0-based offset. */
function where(source: string, offset: number): string {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
