/**
 * `POST /token` (and `/v1/token`): RFC 8693 token exchange. Thin: read the form strictly,
 * hand the parameters to the core, write the JSON answer. No error ever escapes.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import type { Broker } from '../shared/broker';
import { BrokerError, toBrokerError } from '../shared/errors';
import type { ExchangeRecord } from '../shared/exchange-record';
import { logEvent } from '../shared/log';
import { readFormParams } from './http/form-params';
import { replyError, replyJson } from './http/reply';

export type BrokerProvider = () => Promise<Broker>;

export function createTokenHandler(getBroker: BrokerProvider) {
  return async function token(req: Request, res: Response): Promise<void> {
    const started = Date.now();
    const record: ExchangeRecord = {};
    try {
      if (req.method !== 'POST') throw new BrokerError('method_not_allowed', 'the token endpoint accepts POST only', { reason: 'method_not_allowed' });
      const params = readFormParams(req);
      const broker = await getBroker();
      const response = await broker.exchange(params, record);
      replyJson(res, 200, response);
      logEvent('INFO', 'token issued', { ...summary(record), latencyMs: Date.now() - started });
    } catch (err) {
      const error = toBrokerError(err);
      replyError(res, error);
      logEvent(error.status >= 500 ? 'ERROR' : 'NOTICE', 'token request refused', {
        ...summary(record),
        error: error.code,
        reason: error.reason,
        detail: error.detail,
        latencyMs: Date.now() - started,
      });
    }
  };
}

/** The loggable part of a record: fingerprints and decisions, never tokens. */
function summary(record: ExchangeRecord): Record<string, unknown> {
  return {
    grantType: record.grantType,
    principal: record.principal,
    policyVersion: record.policyVersion,
    ruleId: record.ruleId,
    trace: record.trace,
    grant: record.grant,
    tokenSha256: record.tokenSha256,
    cache: record.cache,
    cacheRefreshStarted: record.cacheRefreshStarted,
    tokenLatencyMs: record.tokenLatencyMs,
  };
}
