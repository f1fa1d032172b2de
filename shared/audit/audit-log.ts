/**
 * The audit trail: structured entries written through @google-cloud/logging's LogSync, which
 * prints one JSON object per line on stdout for Cloud Functions to ship to Cloud Logging (no
 * network call, no credentials), under the log name `token-broker-audit`.
 *
 * Only LogSync and its Entry are loaded, from the library's own files, not the package: its
 * index pulls in google-gax and gRPC (about 0.6 s of CPU on a cold start, for API clients the
 * broker never uses). LogSync needs from the `Logging` object only `projectId`, `entry()` and
 * `detectedResource`, which `Logging.logSync()` leaves unset too. The two files cost about
 * 20 ms, so they load synchronously on the first write (the first request's policy load), not
 * with the entry module. Should they fail to load, entries are printed in the same shape by
 * hand rather than lost.
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

/** The placeholder `new Logging()` uses for an unknown project; `withoutLogName` drops the lines' logName then. */
const UNKNOWN_PROJECT = '{{projectId}}';

export class AuditLog {
  /** undefined until the first write; null when the library could not be loaded. */
  private sink?: LogSyncLike | null;
  private readonly projectId: string;
  private readonly logName: string;
  private readonly transport: Writable;

  constructor(options: AuditLogOptions = {}) {
    this.projectId = options.projectId ?? '';
    this.logName = options.logName ?? AUDIT_LOG_NAME;
    this.transport = options.transport ?? process.stdout;
  }

  /** Writes one entry: `payload` becomes the entry's jsonPayload. Never throws. */
  write(severity: AuditSeverity, payload: Record<string, unknown>, metadata: AuditMetadata = {}): void {
    try {
      const sink = this.sink === undefined ? (this.sink = this.loadSink()) : this.sink;
      if (sink) sink.write(sink.entry(this.entryMetadata(severity, metadata), payload));
      else this.writeByHand(severity, payload, metadata);
    } catch {
      // the audit path must never break a request; a failing transport is an operator matter
    }
  }

  /** Resolves once written entries are handed to the transport (they are, synchronously; kept for callers and shutdown hooks). */
  async flush(): Promise<void> {}

  /** LogSync over a minimal stand-in for `Logging` (what `new Logging({projectId}).logSync(name, transport)` builds). */
  private loadSink(): LogSyncLike | null {
    try {
      // Deep paths: the package has no `exports` map. Loaded on first use, synchronously.
      const { LogSync } = require('@google-cloud/logging/build/src/log-sync') as typeof import('@google-cloud/logging/build/src/log-sync');
      const { Entry } = require('@google-cloud/logging/build/src/entry') as typeof import('@google-cloud/logging/build/src/entry');
      const logging = {
        projectId: this.projectId || UNKNOWN_PROJECT,
        detectedResource: undefined,
        entry: (metadata: Record<string, unknown>, data: unknown) => new Entry(metadata, data as never),
      };
      const transport = this.projectId ? this.transport : withoutLogName(this.transport);
      return new LogSync(logging as never, this.logName, transport, { useMessageField: false }) as unknown as LogSyncLike;
    } catch {
      return null;
    }
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
