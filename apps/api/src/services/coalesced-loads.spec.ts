import { CoalescedLoads } from './coalesced-loads';

describe('CoalescedLoads', () => {
  it('2,000 concurrent misses of one id make one load, and every caller gets its value', async () => {
    const calls: number[][] = [];
    const loads = new CoalescedLoads<string>(async (ids) => {
      calls.push(ids);
      await new Promise((r) => setTimeout(r, 20));
      return new Map(ids.filter((id) => id !== 404).map((id) => [id, `v${id}`]));
    });
    const answers = await Promise.all(Array.from({ length: 2_000 }, (_, i) => loads.get(i % 2 === 0 ? [7] : [7, 404, 7])));
    expect(calls).toEqual([[7], [404]]);
    expect(answers.every((m) => m.get(7) === 'v7' && !m.has(404))).toBe(true);
    expect(loads.size).toBe(0);
    // Once settled, the next miss loads again (the cache in front decides what is fresh, not this).
    await loads.get([7]);
    expect(calls).toHaveLength(3);
  });

  it('a failed load fails its waiters once and is forgotten', async () => {
    let fail = true;
    const loads = new CoalescedLoads<number>(async (ids) => {
      if (fail) throw new Error('MySQL down');
      return new Map(ids.map((id) => [id, id * 2]));
    });
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => loads.get([1, 2])));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    fail = false;
    expect([...(await loads.get([1, 2]))]).toEqual([
      [1, 2],
      [2, 4],
    ]);
  });
});
