import { POPULARITY, popularityWindowStart, servePopular, type RankedProduct } from './popularity';

const ranked = (n: number): RankedProduct[] =>
  Array.from({ length: n }, (_, i) => ({ id: i + 1, storeId: 7, name: `p${i + 1}`, price: 1_000, unitsSold: 100 - i }));

describe('popularity', () => {
  it('counts the three days before now', () => {
    expect(popularityWindowStart(new Date('2026-11-23T12:00:00.000Z')).toISOString()).toBe('2026-11-20T12:00:00.000Z');
  });

  it('serves at most five, in the ranked order, with the current name and price', () => {
    const live = new Map(ranked(10).map((p) => [p.id, { name: `${p.name} now`, price: 2_000 }]));
    const served = servePopular(ranked(10), live);
    expect(served.map((p) => [p.id, p.name, p.price, p.unitsSold])).toEqual([
      [1, 'p1 now', 2_000, 100],
      [2, 'p2 now', 2_000, 99],
      [3, 'p3 now', 2_000, 98],
      [4, 'p4 now', 2_000, 97],
      [5, 'p5 now', 2_000, 96],
    ]);
    expect(POPULARITY.size).toBe(5);
  });

  it('leaves out products no longer on sale; a spare moves up', () => {
    const live = new Map(ranked(7).map((p) => [p.id, p]));
    live.delete(2);
    live.delete(4);
    expect(servePopular(ranked(7), live).map((p) => p.id)).toEqual([1, 3, 5, 6, 7]);
  });

  it('serves fewer, or none, when fewer are ranked or on sale', () => {
    expect(servePopular([], new Map())).toEqual([]);
    expect(servePopular(ranked(3), new Map())).toEqual([]);
    expect(servePopular(ranked(2), new Map(ranked(2).map((p) => [p.id, p]))).map((p) => p.id)).toEqual([1, 2]);
  });
});
