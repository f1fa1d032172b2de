/**
 * `POST /v1/introspect`: RFC 7662 token introspection. Thin like the token endpoint: read the
 * form strictly, hand it to the core, write exactly one audit entry, answer. No CORS: a
 * browser holds no client credentials to introspect with.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from '@google-cloud/functions-framework';
import type { AuditSink } from '../shared/audit/audit-sink';
import { introspectionAuditEntry } from '../shared/audit/introspection-entry';
import { BrokerError, toBrokerError } from '../shared/errors';
import type { IntrospectionRecord, IntrospectionResponse } from '../shared/introspection/introspect';
import { readClientCredentials } from './http/client-credentials';
import { readFormParams } from './http/form-params';
import { replyError, replyJson } from './http/reply';
import { requestFacts } from './http/request-facts';
import type { BrokerProvider } from './token';

export function createIntrospectionHandler(getBroker: BrokerProvider, audit: AuditSink, trustForwardedFor: boolean) {
  return async function introspection(req: Request, res: Response): Promise<void> {
    const started = Date.now();
    const requestId = randomUUID();
    const record: IntrospectionRecord = {};
    let response: IntrospectionResponse | undefined;
    let error: BrokerError | undefined;
    try {
      if (req.method !== 'POST') throw new BrokerError('method_not_allowed', 'the introspection endpoint accepts POST only', { reason: 'method_not_allowed', allowedMethods: ['POST'] });
      const broker = await getBroker();
      response = await broker.introspect(readFormParams(req), record, readClientCredentials(req, trustForwardedFor));
    } catch (err) {
      error = toBrokerError(err);
    }
    const entry = introspectionAuditEntry(record, error, requestFacts(req, error?.status ?? 200, started, requestId, trustForwardedFor));
    audit.write(entry.severity, entry.payload, entry.metadata);
    res.set('X-Request-Id', requestId);
    if (error || !response) replyError(res, error ?? toBrokerError(new Error('no response')));
    else replyJson(res, 200, response);
  };
}
