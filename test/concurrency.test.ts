import { limitConcurrency } from '../shared/concurrency';

it('runs at most max calls at once, in order, and passes results and errors through', async () => {
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const work = limitConcurrency(async (i: number) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    order.push(i);
    if (i === 3) throw new Error('three');
    return i * 2;
  }, 2);
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => work(i)));
  expect(peak).toBe(2);
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([0, 2, 4, 'three', 8, 10]);
  expect(order).toHaveLength(6);
});
