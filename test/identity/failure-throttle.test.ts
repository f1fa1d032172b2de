/** Slowing down repeated failed client authentications. */
import { FailureThrottle } from '../../shared/identity/failure-throttle';

function clock(start = 1_000_000) {
  const state = { now: start };
  return { state, now: () => state.now };
}

it('costs nothing for the first three failures, then doubles from 250 ms up to 2 s', () => {
  const { now } = clock();
  const throttle = new FailureThrottle({ now });
  expect(throttle.delayMs('ci')).toBe(0);
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    throttle.recordFailure('ci');
    delays.push(throttle.delayMs('ci'));
  }
  expect(delays).toEqual([0, 0, 0, 250, 500, 1000, 2000, 2000, 2000, 2000]);
});

it('stays capped however many failures pile up', () => {
  const throttle = new FailureThrottle({ now: clock().now });
  for (let i = 0; i < 5000; i++) throttle.recordFailure('ci');
  expect(throttle.delayMs('ci')).toBe(2000);
});

it('forgets a client\'s failures on success', () => {
  const throttle = new FailureThrottle({ now: clock().now });
  for (let i = 0; i < 6; i++) throttle.recordFailure('ci');
  expect(throttle.delayMs('ci')).toBe(1000);
  throttle.recordSuccess('ci');
  expect(throttle.delayMs('ci')).toBe(0);
  expect(throttle.size).toBe(0);
  throttle.recordFailure('ci');
  expect(throttle.delayMs('ci')).toBe(0);
});

it('counts failures in a sliding window of 5 minutes', () => {
  const { state, now } = clock(0);
  const throttle = new FailureThrottle({ now });
  for (let t = 0; t < 5; t++) {
    state.now = t * 1000;
    throttle.recordFailure('ci');
  }
  expect(throttle.delayMs('ci')).toBe(500); // 5 failures
  state.now = 300_000 - 1;
  expect(throttle.delayMs('ci')).toBe(500);
  state.now = 300_000; // the failure at t=0 leaves the window
  expect(throttle.delayMs('ci')).toBe(250);
  state.now = 301_000;
  expect(throttle.delayMs('ci')).toBe(0);
  state.now = 303_999;
  expect(throttle.delayMs('ci')).toBe(0);
  expect(throttle.size).toBe(1);
  state.now = 304_000; // all gone: the client is dropped
  expect(throttle.delayMs('ci')).toBe(0);
  expect(throttle.size).toBe(0);
});

it('keeps clients apart', () => {
  const throttle = new FailureThrottle({ now: clock().now });
  for (let i = 0; i < 4; i++) throttle.recordFailure('a');
  throttle.recordFailure('b');
  expect(throttle.delayMs('a')).toBe(250);
  expect(throttle.delayMs('b')).toBe(0);
  expect(throttle.delayMs('c')).toBe(0);
  throttle.recordSuccess('b');
  expect(throttle.delayMs('a')).toBe(250);
});

it('tracks a bounded number of clients, evicting the least recently failing', () => {
  const throttle = new FailureThrottle({ now: clock().now, maxClients: 3 });
  for (const id of ['a', 'b', 'c']) for (let i = 0; i < 4; i++) throttle.recordFailure(id);
  throttle.recordFailure('a'); // a becomes the most recent
  throttle.recordFailure('d'); // evicts b
  expect(throttle.size).toBe(3);
  expect(throttle.delayMs('a')).toBe(500);
  expect(throttle.delayMs('b')).toBe(0);
  expect(throttle.delayMs('c')).toBe(250);
  expect(throttle.size).toBe(3);
  expect(new FailureThrottle().size).toBe(0);
});

it('defaults to a 10 000-client bound', () => {
  const throttle = new FailureThrottle({ now: clock().now });
  for (let i = 0; i < 10_050; i++) throttle.recordFailure(`client-${i}`);
  expect(throttle.size).toBe(10_000);
});

it('takes its parameters as options, and refuses nonsense', () => {
  const { state, now } = clock(0);
  const throttle = new FailureThrottle({ now, windowMs: 1000, freeFailures: 1, baseDelayMs: 100, maxDelayMs: 350 });
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    throttle.recordFailure('x');
    delays.push(throttle.delayMs('x'));
  }
  expect(delays).toEqual([0, 100, 200, 350, 350]);
  state.now = 1000;
  expect(throttle.delayMs('x')).toBe(0);
  expect(() => new FailureThrottle({ windowMs: -1 })).toThrow(RangeError);
  expect(() => new FailureThrottle({ maxClients: Number.NaN })).toThrow(RangeError);
  expect(() => new FailureThrottle({ baseDelayMs: 0.5 })).toThrow(RangeError);
});

it('uses the real clock by default', () => {
  const throttle = new FailureThrottle();
  for (let i = 0; i < 4; i++) throttle.recordFailure('ci');
  expect(throttle.delayMs('ci')).toBe(250);
});
