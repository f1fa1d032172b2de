import { create } from 'node:domain';
import { leaveFrameworkDomain } from '../../functions/http/leave-framework-domain';

const activeDomain = () => (process as { domain?: unknown }).domain ?? null;

describe('leaveFrameworkDomain', () => {
  it('leaves the domain the framework entered, for the rest of the request too', async () => {
    const domain = create();
    const seen: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      domain.run(() => {
        seen.push(activeDomain());
        leaveFrameworkDomain();
        seen.push(activeDomain());
        // continuations of work started after leaving run outside the domain as well
        Promise.resolve()
          .then(async () => {
            await new Promise((r) => setTimeout(r, 1));
            seen.push(activeDomain());
          })
          .then(resolve, reject);
      });
    });
    expect(seen[0]).toBe(domain);
    expect(seen.slice(1)).toEqual([null, null]);
  });

  it('work started before leaving stays in the domain (the framework\'s own bookkeeping is untouched)', async () => {
    const domain = create();
    const inside = await new Promise<unknown>((resolve) => {
      domain.run(() => {
        const before = new Promise((r) => setTimeout(r, 1)).then(() => activeDomain());
        leaveFrameworkDomain();
        void before.then(resolve);
      });
    });
    expect(inside).toBe(domain);
  });

  it('does nothing outside a domain', () => {
    expect(activeDomain()).toBeNull();
    expect(() => leaveFrameworkDomain()).not.toThrow();
    expect(activeDomain()).toBeNull();
  });
});
