/**
 * The audit trail's `logName`: complete with a project, absent without one (never the
 * library's `projects/{{projectId}}/…` placeholder), the same through @google-cloud/logging's
 * LogSync and through the hand-written printer used when the library cannot load.
 */
import { LineCapture } from '../helpers/capture';
import { AuditLog } from '../../shared/audit/audit-log';

/** The library's file AuditLog loads on its first write (not the package's index, which pulls in gRPC). */
const LOG_SYNC = '@google-cloud/logging/build/src/log-sync';

/** Runs `write` as it runs when `@google-cloud/logging`'s LogSync fails to load. */
function withoutLoggingLibrary(write: () => void): void {
  jest.isolateModules(() => {
    jest.doMock(LOG_SYNC, () => {
      throw new Error('cannot load @google-cloud/logging');
    });
    write();
  });
  jest.dontMock(LOG_SYNC);
}

async function written(around: (write: () => void) => void, projectId: string | undefined): Promise<Array<Record<string, unknown>>> {
  const lines = new LineCapture();
  const audit = new AuditLog({ projectId, transport: lines });
  around(() => {
    audit.write('NOTICE', { event: 'policy_loaded', rules: 1 });
    audit.write('WARNING', { event: 'token_exchange', outcome: 'denied' }, { labels: { request_id: 'r-1' } });
  });
  await audit.flush();
  expect(lines.lines.join('\n')).not.toContain('{{');
  return lines.entries().filter((entry) => typeof entry.event === 'string');
}

describe.each<[string, (write: () => void) => void]>([
  ['through @google-cloud/logging', (write) => write()],
  ['printed by hand (the library failed to load)', withoutLoggingLibrary],
])('logName %s', (_path, around) => {
  it('is projects/PROJECT/logs/token-broker-audit when the project is known', async () => {
    const entries = await written(around, 'acme-prod');
    expect(entries.map((entry) => [entry.event, entry.logName])).toEqual([
      ['policy_loaded', 'projects/acme-prod/logs/token-broker-audit'],
      ['token_exchange', 'projects/acme-prod/logs/token-broker-audit'],
    ]);
  });

  it.each([undefined, ''])('is left out when the project is unknown (projectId %p), the entries otherwise intact and in order', async (projectId) => {
    const entries = await written(around, projectId);
    expect(entries).toEqual([
      expect.objectContaining({ event: 'policy_loaded', rules: 1, severity: 'NOTICE' }),
      expect.objectContaining({ event: 'token_exchange', outcome: 'denied', severity: 'WARNING', 'logging.googleapis.com/labels': { request_id: 'r-1' } }),
    ]);
    for (const entry of entries) expect(entry).not.toHaveProperty('logName');
  });
});

describe('which path wrote', () => {
  it('the library when it loads (its entries carry an insertId), the hand-written printer when it does not', async () => {
    const library = await written((write) => write(), 'acme-prod');
    const byHand = await written(withoutLoggingLibrary, 'acme-prod');
    expect(library.every((entry) => typeof entry['logging.googleapis.com/insertId'] === 'string')).toBe(true);
    expect(byHand.some((entry) => 'logging.googleapis.com/insertId' in entry)).toBe(false);
  });
});
