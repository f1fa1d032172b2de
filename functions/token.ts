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
import { readClientCredentials } from './http/client-credentials';
import { answerPreflight, applyCors } from './http/cors';
import { replyError, replyJson } from './http/reply';
import { requestFacts } from './http/request-facts';

export type BrokerProvider = () => Promise<Broker>;

export function createTokenHandler(getBroker: BrokerProvider, audit: AuditSink, trustForwardedFor: boolean) {
  return async function token(req: Request, res: Response): Promise<void> {
    const started = Date.now();
    const requestId = randomUUID();
    const record: ExchangeRecord = {};
    let response: TokenResponse | undefined;
    let error: BrokerError | undefined;
    let broker: Broker | undefined;
    try {
      broker = await getBroker();
      if (req.method === 'OPTIONS' && req.headers.origin !== undefined) return answerPreflight(req, res, broker.policy.cors);
      const originAllowed = applyCors(req, res, broker.policy.cors);
      if (req.headers.origin !== undefined && !originAllowed) {
        // A browser on a page the policy does not list: refused before anything is verified or minted.
        throw new BrokerError('access_denied', 'requests from this origin are not allowed', { reason: 'origin_not_allowed' });
      }
      if (req.method !== 'POST') throw new BrokerError('method_not_allowed', 'the token endpoint accepts POST only', { reason: 'method_not_allowed', allowedMethods: ['POST'] });
      const credentials = readClientCredentials(req, trustForwardedFor);
      const params = readFormParams(req);
      response = await broker.exchange(params, record, credentials);
    } catch (err) {
      error = toBrokerError(err);
    }
    // The entry is written before the answer leaves: no token is issued unaudited.
    const entry = exchangeAuditEntry(record, error, requestFacts(req, error?.status ?? 200, started, requestId, trustForwardedFor));
    audit.write(entry.severity, entry.payload, entry.metadata);
    res.setHeader('X-Request-Id', requestId);
    if (error || !response) replyError(res, error ?? toBrokerError(new Error('no response')));
    else replyJson(res, 200, response);
  };
}
