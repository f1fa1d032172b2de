import { BrokerError } from '../../shared/errors';

/** The BrokerError a promise rejects with (the test fails if it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerError);
    return err as BrokerError;
  }
  throw new Error('expected a rejection');
}

/** What a synchronous call threw, as the fields tests compare (the test fails unless it threw a BrokerError). */
export function refusal(fn: () => unknown): { code: string; status: number; reason: string; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    const { code, status, reason, message } = error as BrokerError;
    return { code, status, reason, message };
  }
  throw new Error('expected a refusal');
}
