/**
 * The audit trail: structured entries written through @google-cloud/logging's LogSync, which
 * prints one JSON object per line on stdout for Cloud Functions to ship to Cloud Logging (no
 * network call, no credentials), under the log name `token-broker-audit`.
 *
 * The library costs about 300 ms to load, so it is imported in the background when the
 * AuditLog is created, not on the module's cold-start path; entries written before it is
 * ready are queued and flushed in order as soon as it is. Should it fail to load, entries are
 * printed in the same shape by hand rather than lost.
 *
 * `logName` is `projects/PROJECT/logs/token-broker-audit` when the project is known
 * (GOOGLE_CLOUD_PROJECT, which the deployment sets) and left out when it is not: without a
 * project the library would write its template placeholder (`projects/{{projectId}}/…`), and
 * no fallback project would be true. Both paths, the library's and the hand-written one, agree.
 */
import { Writable } from 'node:stream';
import type { TraceContext } from './trace-context';

export const AUDIT_LOG_NAME = 'token-broker-audit';

export type AuditSeverity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';

/** The Cloud Logging HttpRequest structure (the subset the broker fills in). */
export interface AuditHttpRequest {
  requestMethod: string;
  requestUrl: string;
  status: number;
  userAgent?: string;
  remoteIp?: string;
  latency: string;
  protocol?: string;
}

export interface AuditMetadata {
  httpRequest?: AuditHttpRequest;
  trace?: TraceContext;
  labels?: Record<string, string>;
}

export interface AuditLogOptions {
  /** Google Cloud project: makes `logName` and trace resource names complete. Without it, entries carry no `logName`. */
  projectId?: string;
  logName?: string;
  /** Where lines go (default process.stdout); tests capture them here. */
  transport?: Writable;
}

interface LogSyncLike {
  write(entry: unknown): void;
  entry(metadata: Record<string, unknown>, data: unknown): unknown;
}

export class AuditLog {
  private sink?: LogSyncLike;
  private loaded = false;
  private readonly queue: Array<() => void> = [];
  private readonly ready: Promise<void>;
  private readonly projectId: string;
  private readonly logName: string;
  private readonly transport: Writable;

  constructor(options: AuditLogOptions = {}) {
    this.projectId = options.projectId ?? '';
    this.logName = options.logName ?? AUDIT_LOG_NAME;
    this.transport = options.transport ?? process.stdout;
    this.ready = this.load();
  }

  /** Writes one entry: `payload` becomes the entry's jsonPayload. Never throws. */
  write(severity: AuditSeverity, payload: Record<string, unknown>, metadata: AuditMetadata = {}): void {
    const emit = () => {
      try {
        if (this.sink) this.sink.write(this.sink.entry(this.entryMetadata(severity, metadata), payload));
        else this.writeByHand(severity, payload, metadata);
      } catch {
        // the audit path must never break a request; a failing transport is an operator matter
      }
    };
    if (this.loaded) emit();
    else this.queue.push(emit);
  }

  /** Resolves once queued entries are written (tests, and graceful shutdown). */
  async flush(): Promise<void> {
    await this.ready;
  }

  private async load(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      const { Logging } = await import('@google-cloud/logging');
      const logging = new Logging({ projectId: this.projectId || undefined });
      if (this.projectId) logging.projectId = this.projectId;
      const transport = this.projectId ? this.transport : withoutLogName(this.transport);
      this.sink = logging.logSync(this.logName, transport, { useMessageField: false }) as unknown as LogSyncLike;
    } catch {
      this.sink = undefined;
    }
    this.loaded = true;
    for (const emit of this.queue.splice(0)) emit();
  }

  private entryMetadata(severity: AuditSeverity, metadata: AuditMetadata): Record<string, unknown> {
    const trace = metadata.trace;
    return {
      severity,
      timestamp: new Date(),
      httpRequest: metadata.httpRequest,
      labels: metadata.labels,
      trace: trace ? this.traceName(trace.traceId) : undefined,
      spanId: trace?.spanId,
      traceSampled: trace?.sampled,
    };
  }

  private traceName(traceId: string): string {
    return `projects/${this.projectId || '-'}/traces/${traceId}`;
  }

  /** The LogSync line shape, for when the library could not be loaded. */
  private writeByHand(severity: AuditSeverity, payload: Record<string, unknown>, metadata: AuditMetadata): void {
    const trace = metadata.trace;
    const line = {
      ...payload,
      severity,
      timestamp: new Date().toISOString(),
      httpRequest: metadata.httpRequest,
      'logging.googleapis.com/labels': metadata.labels,
      'logging.googleapis.com/trace': trace ? this.traceName(trace.traceId) : undefined,
      'logging.googleapis.com/spanId': trace?.spanId,
      'logging.googleapis.com/trace_sampled': trace?.sampled,
      logName: this.projectId ? `projects/${this.projectId}/logs/${encodeURIComponent(this.logName)}` : undefined,
    };
    try {
      this.transport.write(`${JSON.stringify(line)}\n`);
    } catch {
      // see write()
    }
  }
}

/**
 * LogSync always writes a `logName`; without a project it is `projects/{{projectId}}/logs/…`,
 * the library's template placeholder. This transport drops it from each line (one JSON object
 * per write, LogSync's contract) and never fails: a line it cannot read passes unchanged.
 */
function withoutLogName(target: Writable): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      let line = String(chunk);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        delete entry.logName;
        line = `${JSON.stringify(entry)}\n`;
      } catch {
        // not an entry: written as it came
      }
      try {
        target.write(line);
      } catch {
        // see AuditLog.write()
      }
      done();
    },
  });
}
