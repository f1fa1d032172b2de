/**
 * A rule's `username`: the readable account name token introspection (RFC 7662) answers for
 * the tokens the rule grants, and what `gcloud auth list` shows. A template of literal text
 * and `{claim}` placeholders, each replaced with that claim of the caller's verified token:
 * `{repository}@github` or `{email}`. Without a template, or when a placeholder's claim is not
 * a string or number, the name is the principal's subject.
 */
const PLACEHOLDER = /\{([A-Za-z0-9_.:/-]{1,128})\}/g;
/** Literal text may not hold braces (they only open and close placeholders) or control characters. */
const LITERAL = /^[^{}\u0000-\u001f\u007f]*$/;

export type UsernameTemplate = (claims: Readonly<Record<string, unknown>>, subject: string) => string;

/** The subject, for rules without a template. */
export const SUBJECT_USERNAME: UsernameTemplate = (_claims, subject) => subject;

/** Compiles a template; the reason it cannot be used otherwise (placed under the rule's path). */
export function compileUsernameTemplate(template: string): UsernameTemplate | { error: string } {
  const parts = template.split(PLACEHOLDER);
  // split with one capture group: literal, claim, literal, claim, …, literal
  const literals = parts.filter((_, i) => i % 2 === 0);
  const claims = parts.filter((_, i) => i % 2 === 1);
  if (claims.length === 0) return { error: 'must hold at least one {claim} placeholder' };
  if (!literals.every((literal) => LITERAL.test(literal))) return { error: 'braces only around a claim name ({email}), and no control characters' };
  return (values, subject) => {
    let name = '';
    for (let i = 0; i < parts.length; i += 1) {
      if (i % 2 === 0) {
        name += parts[i];
        continue;
      }
      const value = values[parts[i] as string];
      if (typeof value !== 'string' && typeof value !== 'number') return subject;
      name += String(value);
    }
    return name;
  };
}
