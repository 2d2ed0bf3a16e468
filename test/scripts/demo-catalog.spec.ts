import { LIMITS } from '@bazaar/contracts';
import { searchIndexTokens, searchQueryTerms } from '@bazaar/domain';
import { PRODUCTS_PER_STORE, demoCatalog } from '../../scripts/lib/demo-catalog';

describe('the demo catalog (npm run up)', () => {
  const stores = demoCatalog();
  const products = stores.flatMap((s) => s.products);

  it('is eight stores of 375 products, the same on every call', () => {
    expect(stores.map((s) => s.seller)).toEqual(['seller1', 'seller2', 'seller3', 'seller4', 'seller5', 'seller6', 'seller7', 'seller8']);
    expect(stores.every((s) => s.products.length === PRODUCTS_PER_STORE)).toBe(true);
    expect(products).toHaveLength(3_000);
    expect(demoCatalog()).toEqual(stores);
  });

  it('names each product once per store (seeding again skips by name), in Korean and English', () => {
    for (const s of stores) expect(new Set(s.products.map((p) => p.name)).size).toBe(s.products.length);
    const odd = products.filter((p) => !/\p{sc=Hangul}/u.test(p.name) || !/[A-Za-z]/.test(p.name) || p.name.length > 200 || p.description.length > 5_000);
    expect(odd).toEqual([]);
  });

  it('keeps the products the first seed had', () => {
    const names = new Set(products.map((p) => p.name));
    for (const n of [
      '장미 꽃다발 Rose bouquet',
      '에티오피아 원두 200g Ethiopia beans',
      '콜드브루 1L Cold brew',
      '감귤 5kg Tangerines',
      '감귤 초콜릿 Tangerine chocolate',
    ]) {
      expect(names.has(n)).toBe(true);
    }
  });

  it('prices in whole won and stocks within the limits, a few sold out', () => {
    const odd = products.filter(
      (p) =>
        !(Number.isInteger(p.price) && p.price > 0 && p.price <= LIMITS.maxPrice) ||
        !(Number.isInteger(p.stock) && p.stock >= 0 && p.stock <= LIMITS.maxStock) ||
        !(Number.isInteger(p.viewCount) && p.viewCount >= 0),
    );
    expect(odd).toEqual([]);
    const soldOut = products.filter((p) => p.stock === 0).length;
    expect(soldOut).toBeGreaterThan(30);
    expect(soldOut).toBeLessThan(300);
  });

  it('gives short Korean words to search for', () => {
    const indexed = products.map((p) => searchIndexTokens(p.name, p.description).split(' '));
    const finds = (q: string) => {
      const terms = searchQueryTerms(q).map((t) => t.slice(1));
      return indexed.filter((tokens) => {
        return terms.every((t) => (t.endsWith('*') ? tokens.some((k) => k.startsWith(t.slice(0, -1))) : tokens.includes(t)));
      }).length;
    };
    for (const q of ['가방', '신발', '우유', '노트북', '꽃', 'the', 'rose']) expect(finds(q)).toBeGreaterThan(0);
  });
});
