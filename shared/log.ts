/**
 * Minimal structured logging: one JSON object per line on stdout, in the shape Cloud
 * Logging ingests from Cloud Functions (`severity`, `message`). Callers pass fingerprints,
 * never tokens. `BROKER_LOG=silent` turns it off (tests that do not inspect logs).
 */
export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';

export function logEvent(severity: Severity, message: string, fields: Record<string, unknown> = {}): void {
  if (process.env.BROKER_LOG === 'silent') return;
  process.stdout.write(`${JSON.stringify({ severity, message, ...fields })}\n`);
}
