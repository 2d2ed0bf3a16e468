/**
 * `npm run db:seed`: demo data for a newcomer — eight sellers with a store
 * each and 3,000 products named in Korean and English (scripts/lib/
 * demo-catalog.ts), and a customer with a topped-up wallet. Safe to run
 * again: accounts, stores and products already there (by email, name) are
 * kept as they are, and only what is missing is added, in batches.
 */
import 'reflect-metadata';
import { Role } from '@bazaar/contracts';
import { CatalogRepository, ProductFanoutsRepository, UsersRepository, WalletRepository, createDataSource } from '@bazaar/db';
import { CatalogVersions, createLogger, createMetrics, createRedis, loadConfigOrExit, redisKeys } from '@bazaar/platform';
import { SoldOutGate } from '@bazaar/queue';
import { CatalogService, PasswordService, ProductPricingCache, ensureAdminAccount } from '@bazaar/api/hosting';
import { demoCatalog } from './lib/demo-catalog';

export const DEMO_PASSWORD = 'bazaar-demo-1234';
const CUSTOMER_EMAIL = 'customer@demo.bazaar';
const BATCH = 250;

async function main(): Promise<void> {
  const t0 = Date.now();
  const config = loadConfigOrExit();
  const ds = createDataSource({ ...config, MYSQL_REPLICA_URLS: [] });
  await ds.initialize();
  const redis = createRedis(config, 'command');
  try {
    const keys = redisKeys(config.REDIS_PREFIX);
    const users = new UsersRepository(ds);
    const catalog = new CatalogRepository(ds);
    const metrics = createMetrics('seed');
    const gate = new SoldOutGate(redis, keys);
    // Product changes go through the api's CatalogService, as products.create's do; the list caches are told once, below.
    const catalogChanges = new CatalogService(
      catalog,
      new ProductFanoutsRepository(ds),
      {
        pricing: new ProductPricingCache(redis, keys, catalog, metrics),
        gate,
        stockSnapshot: (id, orderIds) => catalog.stockSnapshot(id, orderIds),
        changed: async () => undefined,
      },
      metrics,
      createLogger('seed', 'warn'),
    );
    let passwordHash: Promise<string> | undefined;
    const account = async (email: string, name: string, role: Role) =>
      (await users.findByEmail(email)) ?? users.create({ email, passwordHash: await (passwordHash ??= new PasswordService().hash(DEMO_PASSWORD)), name, role });

    const stores = demoCatalog();
    let added = 0;
    let total = 0;
    for (const s of stores) {
      const seller = await account(`${s.seller}@demo.bazaar`, s.name.split(' ')[0] ?? s.seller, Role.SELLER);
      const store = (await catalog.storesOfSeller(seller.id)).find((x) => x.name === s.name) ?? (await catalog.createStore(seller.id, s.name));
      const have = new Set((await catalog.storeProducts(store.id)).map((p) => p.name));
      const missing = s.products.filter((p) => !have.has(p.name));
      for (let i = 0; i < missing.length; i += BATCH) {
        await catalog.insertProducts(missing.slice(i, i + BATCH).map((p) => ({ storeId: store.id, ...p })));
      }
      if (missing.length > 0) {
        // As products.create does: the order path prices and gates the new products at once (an old counter under a reused id is replaced).
        const names = new Set(missing.map((p) => p.name));
        const fresh = (await catalog.storeProducts(store.id)).filter((p) => names.has(p.name));
        await catalogChanges.created(fresh);
      }
      added += missing.length;
      total += have.size + missing.length;
    }
    // As products.create does: a running api's cached list pages are stale once products were added.
    if (added > 0) await new CatalogVersions(redis, keys).catalogChanged();

    // The admin account (it signs in to Bull Board): created, or its password and role set again.
    const adminNote = await ensureAdminAccount(ds, config);

    const customer = await account(CUSTOMER_EMAIL, '김민지', Role.CUSTOMER);
    const topUp = await new WalletRepository(ds).charge(customer.id, 100_000, 'demo-seed-topup'); // once: a replay of the same key adds nothing
    process.stdout.write(
      `demo catalog: ${stores.length} stores, ${total.toLocaleString('en')} products (${added.toLocaleString('en')} added now) in ${Date.now() - t0} ms; ` +
        `${CUSTOMER_EMAIL}${topUp.replayed ? '' : ' with 100,000 won'} and seller1..${stores.length}@demo.bazaar, password ${DEMO_PASSWORD}; ${adminNote}\n`,
    );
  } finally {
    await redis.quit();
    await ds.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`seeding failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
