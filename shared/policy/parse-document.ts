/**
 * Turns policy text (YAML 1.2, which includes JSON) into a validated PolicyDocument, or a
 * PolicyLoadError naming file, path and reason for every problem found.
 */
import { parseDocument } from 'yaml';
import { DEFAULTS } from '../config/defaults';
import { PolicySchema, type PolicyDocument } from './schema';
import { formatPath, PolicyLoadError, type PolicyIssue } from './policy-error';

export function parsePolicyText(text: string, source: string): PolicyDocument {
  const raw = parseYaml(text, source);
  const parsed = PolicySchema.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyLoadError(
      source,
      parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), reason: issue.message })),
    );
  }
  return parsed.data;
}

function parseYaml(text: string, source: string): unknown {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true, schema: 'core' });
  if (document.errors.length > 0) {
    const issues: PolicyIssue[] = document.errors.map((error) => ({
      path: error.linePos ? `line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '(document)',
      reason: (error.message.split('\n')[0] ?? error.code).replace(/ at line \d+, column \d+:?$/, ''),
    }));
    throw new PolicyLoadError(source, issues);
  }
  try {
    return document.toJS({ maxAliasCount: DEFAULTS.policyMaxAliases });
  } catch (err) {
    throw new PolicyLoadError(source, [{ path: '(document)', reason: err instanceof Error ? err.message : 'unreadable' }]);
  }
}
