/** The Node entry's BrokerTokenClient: the shared one, plus subject tokens from files. */
import { BrokerTokenClient as BaseBrokerTokenClient } from '../lib/token-client';
import { withFileSource, type NodeBrokerClientOptions } from './file-source';

export class BrokerTokenClient extends BaseBrokerTokenClient {
  constructor(options: NodeBrokerClientOptions) {
    super(withFileSource(options));
  }
}
