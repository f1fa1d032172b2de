/**
 * Where a policy issue is in the file: maps an issue's path (`rules[2].condition`, as
 * PolicyLoadError names it) to the line and column of that node in the YAML (or JSON) text.
 * Read-only and separate from loading: the broker never needs positions, the CLI does.
 *
 * A path the text does not spell out (a field a preset fills in, a key that is missing) is
 * placed at the nearest node that exists, so every issue gets a position.
 */
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

export interface SourcePosition {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

export type LocateIssue = (path: string, reason?: string) => SourcePosition;

const START: SourcePosition = Object.freeze({ line: 1, column: 1 });
/** What parse-document.ts writes for YAML syntax errors. */
const LINE_COLUMN = /^line (\d+), column (\d+)$/;
/** Where cel.ts places a CEL problem inside the condition text. */
const IN_CONDITION = / at line (\d+), column (\d+)$/;
/** zod's message for an unknown key of a strict object: the key itself is the better place. */
const UNRECOGNIZED_KEY = /^Unrecognized keys?: "([^"]+)"/;

/** A locator for issues of this text. Never throws: unparseable text places everything at 1:1. */
export function policySourceMap(text: string): LocateIssue {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, keepSourceTokens: false, uniqueKeys: false });
  const at = (offset: number | undefined): SourcePosition => {
    if (offset === undefined) return START;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  return (path, reason) => {
    const syntax = LINE_COLUMN.exec(path);
    if (syntax) return { line: Number(syntax[1]), column: Number(syntax[2]) };
    if (path === '(document)') return at(document.contents?.range?.[0]);
    let node = findNode(document.contents, pathSegments(path));
    const unknownKey = reason === undefined ? null : UNRECOGNIZED_KEY.exec(reason);
    if (unknownKey && isMap(node)) node = keyNode(node, unknownKey[1] ?? '') ?? node;
    const inside = reason === undefined ? null : IN_CONDITION.exec(reason);
    if (inside && isScalar(node) && node.range) {
      const offset = offsetInScalar(text, node.range[0], node.range[1], String(node.type), Number(inside[1]), Number(inside[2]));
      if (offset !== undefined) return at(offset);
    }
    return at(node?.range?.[0]);
  };
}

/** `rules[2].grant.scopes[0]` → ['rules', 2, 'grant', 'scopes', 0]. */
export function pathSegments(path: string): Array<string | number> {
  const segments: Array<string | number> = [];
  for (const match of path.matchAll(/\[(\d+)\]|([^.[\]]+)/g)) {
    if (match[1] !== undefined) segments.push(Number(match[1]));
    else if (match[2] !== undefined) segments.push(match[2]);
  }
  return segments;
}

/** The deepest node along `segments` (the last one found when the path leaves the text). */
function findNode(root: unknown, segments: ReadonlyArray<string | number>): Node | undefined {
  let node = isNode(root) ? root : undefined;
  for (const segment of segments) {
    const next = child(node, segment);
    if (next === undefined) break;
    node = next;
  }
  return node;
}

function child(node: Node | undefined, segment: string | number): Node | undefined {
  if (isSeq(node) && typeof segment === 'number') {
    const item = node.items[segment];
    return isNode(item) ? item : undefined;
  }
  if (isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
    if (!pair) return undefined;
    if (isNode(pair.value) && pair.value.range) return pair.value;
    return isNode(pair.key) ? pair.key : undefined;
  }
  return undefined;
}

function keyNode(map: Node, key: string): Node | undefined {
  if (!isMap(map)) return undefined;
  const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
  return isNode(pair?.key) ? pair.key : undefined;
}

/**
 * The text offset of line `line`, column `column` (1-based) of a scalar's value, for the
 * styles whose value maps plainly onto the text: a one-line plain or quoted scalar, a literal
 * block (`|`), a folded block (`>`) without blank or more-indented lines. Else undefined.
 */
function offsetInScalar(text: string, start: number, end: number, type: string, line: number, column: number): number | undefined {
  const source = text.slice(start, end);
  if (type === 'PLAIN' || type === 'QUOTE_SINGLE' || type === 'QUOTE_DOUBLE') {
    if (line !== 1 || source.includes('\n')) return undefined;
    const offsets = type === 'PLAIN' ? [...source].map((_, i) => i) : quotedOffsets(source, type === 'QUOTE_DOUBLE');
    const at = offsets[column - 1];
    return at === undefined ? undefined : start + at;
  }
  if (type !== 'BLOCK_LITERAL' && type !== 'BLOCK_FOLDED') return undefined;
  const lines = source.split('\n');
  const contentStart = (lines[0]?.length ?? 0) + 1;
  const content = lines.slice(1);
  const indent = /^ */.exec(content.find((l) => l.trim() !== '') ?? '')?.[0].length ?? 0;
  const lineStarts: number[] = [];
  let offset = start + contentStart;
  for (const l of content) {
    lineStarts.push(offset + indent);
    offset += l.length + 1;
  }
  if (type === 'BLOCK_LITERAL') {
    const lineStart = lineStarts[line - 1];
    return lineStart === undefined ? undefined : lineStart + column - 1;
  }
  const body = content.filter((l) => l.trim() !== '');
  if (line !== 1 || body.length !== content.filter((l, i) => l.trim() !== '' || i < content.length - 1).length) return undefined;
  if (body.some((l) => /^ */.exec(l)?.[0].length !== indent)) return undefined;
  let remaining = column - 1;
  for (const [i, l] of content.entries()) {
    const width = l.length - indent;
    if (remaining <= width) return (lineStarts[i] ?? start) + remaining;
    remaining -= width + 1; // the line break folded into one space
  }
  return undefined;
}

/** For each character of a quoted scalar's value, its offset in the quoted text. */
function quotedOffsets(source: string, double: boolean): number[] {
  const offsets: number[] = [];
  for (let i = 1; i < source.length - 1; i++) {
    offsets.push(i);
    if (double && source[i] === '\\') i += source[i + 1] === 'x' ? 3 : source[i + 1] === 'u' ? 5 : source[i + 1] === 'U' ? 9 : 1;
    else if (!double && source[i] === "'" && source[i + 1] === "'") i += 1;
  }
  return offsets;
}
