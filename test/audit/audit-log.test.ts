/**
 * The audit trail's `logName`: complete with a project, absent without one (never the
 * library's `projects/{{projectId}}/…` placeholder), the same through @google-cloud/logging's
 * LogSync and through the hand-written printer used when the library cannot load.
 */
import { LineCapture } from '../helpers/capture';
import { AuditLog } from '../../shared/audit/audit-log';

type AuditLogClass = typeof AuditLog;

/** AuditLog as it is when `@google-cloud/logging` fails to load. */
function withoutLoggingLibrary(): AuditLogClass {
  let loaded: AuditLogClass | undefined;
  jest.isolateModules(() => {
    jest.doMock('@google-cloud/logging', () => {
      throw new Error('cannot load @google-cloud/logging');
    });
    loaded = (require('../../shared/audit/audit-log') as typeof import('../../shared/audit/audit-log')).AuditLog;
  });
  jest.dontMock('@google-cloud/logging');
  return loaded as AuditLogClass;
}

async function written(Log: AuditLogClass, projectId: string | undefined): Promise<Array<Record<string, unknown>>> {
  const lines = new LineCapture();
  const audit = new Log({ projectId, transport: lines });
  audit.write('NOTICE', { event: 'policy_loaded', rules: 1 });
  audit.write('WARNING', { event: 'token_exchange', outcome: 'denied' }, { labels: { request_id: 'r-1' } });
  await audit.flush();
  expect(lines.lines.join('\n')).not.toContain('{{');
  return lines.entries().filter((entry) => typeof entry.event === 'string');
}

describe.each<[string, () => AuditLogClass]>([
  ['through @google-cloud/logging', () => AuditLog],
  ['printed by hand (the library failed to load)', withoutLoggingLibrary],
])('logName %s', (_path, load) => {
  it('is projects/PROJECT/logs/token-broker-audit when the project is known', async () => {
    const entries = await written(load(), 'acme-prod');
    expect(entries.map((entry) => [entry.event, entry.logName])).toEqual([
      ['policy_loaded', 'projects/acme-prod/logs/token-broker-audit'],
      ['token_exchange', 'projects/acme-prod/logs/token-broker-audit'],
    ]);
  });

  it.each([undefined, ''])('is left out when the project is unknown (projectId %p), the entries otherwise intact and in order', async (projectId) => {
    const entries = await written(load(), projectId);
    expect(entries).toEqual([
      expect.objectContaining({ event: 'policy_loaded', rules: 1, severity: 'NOTICE' }),
      expect.objectContaining({ event: 'token_exchange', outcome: 'denied', severity: 'WARNING', 'logging.googleapis.com/labels': { request_id: 'r-1' } }),
    ]);
    for (const entry of entries) expect(entry).not.toHaveProperty('logName');
  });
});
