import { ConfigurationError } from '../errors';

export interface PolicyIssue {
  /** Location in the document, e.g. `rules[2].grant.scopes[0]`, or `line 4, column 3`. */
  readonly path: string;
  readonly reason: string;
}

/** A policy document that cannot be used. The message names file, path and reason per issue. */
export class PolicyLoadError extends ConfigurationError {
  readonly source: string;
  readonly issues: readonly PolicyIssue[];

  constructor(source: string, issues: readonly PolicyIssue[]) {
    super(issues.map((issue) => `${source}: ${issue.path}: ${issue.reason}`).join('\n'));
    this.name = 'PolicyLoadError';
    this.source = source;
    this.issues = issues;
  }
}

/** Renders a zod-style path as `rules[2].grant.scopes[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(document)';
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
}
