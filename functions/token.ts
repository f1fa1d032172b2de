/**
 * `POST /token` (and `/v1/token`): RFC 8693 token exchange. Thin: read the form strictly,
 * hand the parameters to the core, write exactly one audit entry, answer. No error escapes.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from '@google-cloud/functions-framework';
import type { AuditSink } from '../shared/audit/audit-sink';
import { exchangeAuditEntry } from '../shared/audit/exchange-entry';
import type { Broker } from '../shared/broker';
import { BrokerError, toBrokerError } from '../shared/errors';
import type { ExchangeRecord } from '../shared/exchange-record';
import type { TokenResponse } from '../shared/token-response';
import { readFormParams } from './http/form-params';
import { replyError, replyJson } from './http/reply';
import { requestFacts } from './http/request-facts';

export type BrokerProvider = () => Promise<Broker>;

export function createTokenHandler(getBroker: BrokerProvider, audit: AuditSink) {
  return async function token(req: Request, res: Response): Promise<void> {
    const started = Date.now();
    const requestId = randomUUID();
    const record: ExchangeRecord = {};
    let response: TokenResponse | undefined;
    let error: BrokerError | undefined;
    try {
      if (req.method !== 'POST') throw new BrokerError('method_not_allowed', 'the token endpoint accepts POST only', { reason: 'method_not_allowed' });
      const params = readFormParams(req);
      const broker = await getBroker();
      response = await broker.exchange(params, record);
    } catch (err) {
      error = toBrokerError(err);
    }
    // The entry is written before the answer leaves: no token is issued unaudited.
    const entry = exchangeAuditEntry(record, error, requestFacts(req, error?.status ?? 200, started, requestId));
    audit.write(entry.severity, entry.payload, entry.metadata);
    res.set('X-Request-Id', requestId);
    if (error || !response) replyError(res, error ?? toBrokerError(new Error('no response')));
    else replyJson(res, 200, response);
  };
}
