import type { AuditMetadata, AuditSeverity } from './audit-log';

/** Where audit entries go: the AuditLog in production, a capturing double nowhere (tests use the real one). */
export interface AuditSink {
  write(severity: AuditSeverity, payload: Record<string, unknown>, metadata?: AuditMetadata): void;
}
