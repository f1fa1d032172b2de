/** The circuit breaker: opens on consecutive counted failures, probes once, backs off. */
import { CircuitBreaker, CircuitOpenError, type CircuitTransition } from '../../shared/resilience/circuit-breaker';

class Outage extends Error {}

function breaker() {
  let clock = 0;
  const transitions: CircuitTransition[] = [];
  const b = new CircuitBreaker({
    settings: { failureThreshold: 3, openMs: 1_000, maxOpenMs: 3_000 },
    counts: (err) => err instanceof Outage,
    onTransition: (t) => transitions.push(t),
    clock: () => clock,
  });
  let calls = 0;
  const fail = () => b.run(async () => { calls++; throw new Outage('503'); }).catch((err: unknown) => err);
  const refuse = () => b.run(async () => { calls++; throw new Error('403'); }).catch((err: unknown) => err);
  const succeed = () => b.run(async () => { calls++; return 'ok'; }).catch((err: unknown) => err);
  return { b, transitions, fail, refuse, succeed, calls: () => calls, advance: (ms: number) => void (clock += ms) };
}

it('opens after the threshold of consecutive counted failures, then fails fast without calling', async () => {
  const t = breaker();
  for (let i = 0; i < 3; i++) expect(await t.fail()).toBeInstanceOf(Outage);
  expect(t.b.currentState).toBe('open');
  expect(t.transitions).toEqual([{ state: 'open', failures: 3, openMs: 1_000 }]);
  const fast = await t.succeed();
  expect(fast).toBeInstanceOf(CircuitOpenError);
  expect((fast as CircuitOpenError).retryAfterMs).toBe(1_000);
  expect(t.calls()).toBe(3);
});

it('a success resets the count; failures that say nothing about health do not count', async () => {
  const t = breaker();
  await t.fail();
  await t.fail();
  await t.succeed();
  await t.fail();
  await t.fail();
  for (let i = 0; i < 10; i++) await t.refuse();
  expect(t.b.currentState).toBe('closed');
  expect(t.transitions).toEqual([]);
});

it('lets exactly one probe through once open time has passed; its success closes the circuit', async () => {
  const t = breaker();
  for (let i = 0; i < 3; i++) await t.fail();
  t.advance(1_000);
  let release!: () => void;
  const probe = t.b.run(() => new Promise<string>((resolve) => { release = () => resolve('ok'); }));
  expect(t.b.currentState).toBe('half_open');
  expect(await t.succeed()).toBeInstanceOf(CircuitOpenError); // a second caller during the probe
  release();
  await expect(probe).resolves.toBe('ok');
  expect(t.b.currentState).toBe('closed');
  expect(t.transitions.map((x) => x.state)).toEqual(['open', 'half_open', 'closed']);
  expect(await t.succeed()).toBe('ok');
});

it('a failed probe reopens for twice as long, capped', async () => {
  const t = breaker();
  for (let i = 0; i < 3; i++) await t.fail();
  for (const expected of [2_000, 3_000, 3_000]) {
    t.advance(5_000);
    await t.fail();
    expect(t.transitions.at(-1)).toMatchObject({ state: 'open', openMs: expected });
    t.advance(expected - 1);
    expect(await t.succeed()).toBeInstanceOf(CircuitOpenError);
    t.advance(1);
  }
  expect(await t.succeed()).toBe('ok');
  // closed again: the next opening starts from the base open time
  for (let i = 0; i < 3; i++) await t.fail();
  expect(t.transitions.at(-1)).toMatchObject({ state: 'open', openMs: 1_000 });
});

it('a probe refused for another reason frees the probe slot without closing or reopening', async () => {
  const t = breaker();
  for (let i = 0; i < 3; i++) await t.fail();
  t.advance(1_000);
  await t.refuse();
  expect(t.b.currentState).toBe('half_open');
  expect(await t.succeed()).toBe('ok');
  expect(t.b.currentState).toBe('closed');
});
