/**
 * Explains a rule's CEL condition clause by clause: the condition is split at its top-level
 * `||` (then `&&`) operators, outside string literals, comments and brackets, recursing into
 * parenthesised groups, and each clause is compiled and evaluated on its own by the very
 * engine the broker uses (cel.ts), against the same claims. The text shown for a clause is the
 * operator's own source, never a reconstruction.
 *
 * For operators only: the broker's decision is the whole condition's value (which
 * `explainCondition` reports too); CEL's `&&` / `||` absorb an error when another clause
 * decides, so a clause shown as `error` need not make the condition fail.
 */
import { compileCondition, type CelOutcome } from './cel';

export type ClauseValue =
  | { readonly kind: 'true' }
  | { readonly kind: 'false' }
  | { readonly kind: 'error'; readonly detail: string }
  | { readonly kind: 'not_bool'; readonly detail: string };

export interface Clause {
  /** The clause as written (whitespace collapsed, enclosing parentheses removed). */
  readonly text: string;
  readonly value: ClauseValue;
  /** Set when the clause is itself a chain: how its parts combine, and the parts. */
  readonly operator?: '&&' | '||';
  readonly parts?: readonly Clause[];
}

/** Deeper groups are shown as one clause. */
const MAX_DEPTH = 4;

/** The condition's value and, for `&&`/`||` chains, each clause's. Never throws. */
export function explainCondition(
  source: string,
  claims: Readonly<Record<string, unknown>>,
  client?: Readonly<Record<string, unknown>>,
): Clause {
  return explain(source, claims, client, 0);
}

function explain(source: string, claims: Readonly<Record<string, unknown>>, client: Readonly<Record<string, unknown>> | undefined, depth: number): Clause {
  const text = stripEnclosingParentheses(source.trim());
  const value = evaluate(text, claims, client);
  if (depth >= MAX_DEPTH) return { text: oneLine(text), value };
  for (const operator of ['||', '&&'] as const) {
    const pieces = splitTopLevel(text, operator);
    if (pieces.length > 1) {
      return { text: oneLine(text), value, operator, parts: pieces.map((piece) => explain(piece, claims, client, depth + 1)) };
    }
  }
  return { text: oneLine(text), value };
}

function evaluate(text: string, claims: Readonly<Record<string, unknown>>, client: Readonly<Record<string, unknown>> | undefined): ClauseValue {
  let outcome: CelOutcome;
  try {
    outcome = compileCondition(text).evaluate(claims, client);
  } catch (err) {
    return { kind: 'error', detail: `cannot be evaluated on its own: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (outcome.matched) return { kind: 'true' };
  if (outcome.reason === 'false') return { kind: 'false' };
  return { kind: outcome.reason, detail: outcome.detail ?? outcome.reason };
}

/** `true`, `false`, `error: …`, `not a bool: …`. */
export function describeValue(value: ClauseValue): string {
  switch (value.kind) {
    case 'true':
    case 'false':
      return value.kind;
    case 'error':
      return `error: ${value.detail}`;
    case 'not_bool':
      return `not a bool: ${value.detail}`;
  }
}

/**
 * The operands of `operator` at the top level of `text` (one element when there is none). A
 * top-level `?` (a conditional) binds looser than both operators: such text is not split.
 */
export function splitTopLevel(text: string, operator: '&&' | '||'): string[] {
  const pieces: string[] = [];
  let start = 0;
  let conditional = false;
  scan(text, (ch, i, depth) => {
    if (depth !== 0) return;
    if (ch === '?') conditional = true;
    if (text.startsWith(operator, i)) {
      pieces.push(text.slice(start, i));
      start = i + operator.length;
      return operator.length;
    }
    return undefined;
  });
  pieces.push(text.slice(start));
  if (conditional) return [text];
  return pieces.map((piece) => piece.trim());
}

/** `(a || b)` → `a || b`, as often as the outer parentheses enclose everything. */
function stripEnclosingParentheses(text: string): string {
  let current = text;
  while (current.startsWith('(') && closingParenthesis(current) === current.length - 1) current = current.slice(1, -1).trim();
  return current;
}

function closingParenthesis(text: string): number {
  let found = -1;
  scan(text, (ch, i, depth) => {
    if (found === -1 && ch === ')' && depth === 0) found = i;
    return undefined;
  });
  return found;
}

/**
 * Calls `visit` for each character outside string literals and comments, with the bracket
 * depth before it (after it, for a closing bracket). `visit` may return how many characters to skip.
 */
function scan(text: string, visit: (ch: string, index: number, depth: number) => number | undefined): void {
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (ch === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end + 1;
      continue;
    }
    if (ch === '"' || ch === "'") {
      i = endOfString(text, i);
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') depth += 1;
    if (ch === ')' || ch === ']' || ch === '}') depth -= 1;
    const skip = visit(ch, i, depth);
    i += skip ?? 1;
  }
}

/** The index just after the string literal opening at `i` (CEL: '…', "…", '''…''', """…""", raw r'…'). */
function endOfString(text: string, i: number): number {
  const quote = text[i] ?? '';
  const raw = /[rR]/.test(text[i - 1] ?? '') && !/[A-Za-z0-9_]/.test(text[i - 2] ?? '') || /[rR][bB]|[bB][rR]/.test(text.slice(i - 2, i));
  const delimiter = text.startsWith(quote.repeat(3), i) ? quote.repeat(3) : quote;
  let j = i + delimiter.length;
  while (j < text.length) {
    if (!raw && text[j] === '\\') {
      j += 2;
      continue;
    }
    if (text.startsWith(delimiter, j)) return j + delimiter.length;
    j += 1;
  }
  return text.length;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
