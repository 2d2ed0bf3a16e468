import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { PASSWORD, uniqueEmail } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { startProcess, type RunningProcess } from '../support/processes';
import type { TestEnv } from '../support/test-env';

/** products.get under a read storm, across two real API processes sharing Redis. */
describe('product detail cache (two api processes)', () => {
  jest.setTimeout(120_000);
  let env: TestEnv;
  let apis: RunningProcess[];
  let seller: BazaarClient;
  let storeId: number;

  beforeAll(async () => {
    env = await isolatedEnv('pcache');
    apis = await Promise.all([startProcess('api', { ...env }), startProcess('api', { ...env })]);
    const anon = bazaarClient(url(0), { batch: false });
    const email = uniqueEmail('cache-seller');
    await anon.auth.signup.mutate({ email, password: PASSWORD, name: 'seller', role: 'SELLER' });
    seller = bazaarClient(url(0), { token: (await anon.auth.login.mutate({ email, password: PASSWORD })).token, batch: false });
    storeId = (await seller.stores.create.mutate({ name: 'Cache store' })).id;
  });

  afterAll(async () => {
    await Promise.all((apis ?? []).map((p) => p.stop()));
  });

  const url = (i: number) => `http://127.0.0.1:${apis[i]!.port}`;

  async function metric(name: string, labels = ''): Promise<number> {
    let sum = 0;
    for (const p of apis) {
      const text = await (await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)).text();
      for (const line of text.split('\n')) {
        if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  it('1,000 concurrent cold reads of one product across both processes: at most 2 MySQL reads', async () => {
    const product = await seller.products.create.mutate({ storeId, name: '한정판 Limited', description: 'cold', price: 9_900, stock: 7 });
    const before = await metric('bazaar_product_detail_loads_total');
    const clients = [bazaarClient(url(0), { batch: false }), bazaarClient(url(1), { batch: false })];
    const views = await Promise.all(Array.from({ length: 1_000 }, (_, i) => clients[i % 2]!.products.get.query({ productId: product.id })));
    expect(views.every((v) => v.id === product.id && v.price === 9_900 && v.stock === 7)).toBe(true);
    expect((await metric('bazaar_product_detail_loads_total')) - before).toBeLessThanOrEqual(2);
    expect(await metric('bazaar_cache_requests_total', 'cache="product_local",result="hit"')).toBeGreaterThan(0);
  });

  it('a change made through one process is seen through the other on the next read', async () => {
    const product = await seller.products.create.mutate({ storeId, name: 'Before', description: '', price: 1_000, stock: 5 });
    const other = bazaarClient(url(1), { batch: false });
    expect((await other.products.get.query({ productId: product.id })).price).toBe(1_000); // now cached in both tiers
    await seller.products.update.mutate({ productId: product.id, name: 'After', price: 1_200 });
    expect(await other.products.get.query({ productId: product.id })).toMatchObject({ name: 'After', price: 1_200 });
    await seller.products.restock.mutate({ productId: product.id, quantity: 3 });
    expect((await other.products.get.query({ productId: product.id })).stock).toBe(8);
    await seller.products.remove.mutate({ productId: product.id });
    await expect(other.products.get.query({ productId: product.id })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
  });
});
