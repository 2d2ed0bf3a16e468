import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { redisKeys } from '@bazaar/platform';

/**
 * Test data written straight into MySQL and Redis (no API round trips):
 * customers with a charged wallet and a session token each, a seller with a
 * store, and products with plenty of stock.
 */

export interface Customer {
  userId: number;
  token: string;
}

export interface Product {
  id: number;
  storeId: number;
  name: string;
  price: number;
}

export interface Seeded {
  seller: Customer;
  storeId: number;
  customers: Customer[];
  products: Product[];
}

const token = () => randomBytes(32).toString('base64url');

export async function insertBatched(c: mysql.Connection, head: string, rows: unknown[][], batch = 1000): Promise<void> {
  for (let i = 0; i < rows.length; i += batch) {
    const chunk = rows.slice(i, i + batch);
    await c.query(`${head} VALUES ${chunk.map((r) => `(${r.map(() => '?').join(',')})`).join(',')}`, chunk.flat());
  }
}

export async function seedDatabase(c: mysql.Connection, opts: { customers: number; products: number; balance: number; stock: number }): Promise<Seeded> {
  await c.query(`INSERT INTO users (email, password_hash, name, role) VALUES ('seller@bench.bazaar', 'x', 'bench seller', 'SELLER')`);
  const [[seller]] = (await c.query(`SELECT id FROM users WHERE email = 'seller@bench.bazaar'`)) as unknown as [[{ id: number }]];
  await c.query(`INSERT INTO stores (seller_id, name) VALUES (?, 'bench store')`, [seller.id]);
  const [[store]] = (await c.query('SELECT id FROM stores WHERE seller_id = ?', [seller.id])) as unknown as [[{ id: number }]];

  const users = Array.from({ length: opts.customers }, (_, i) => [`c${i}@bench.bazaar`, 'x', `customer ${i}`, 'CUSTOMER']);
  await insertBatched(c, 'INSERT INTO users (email, password_hash, name, role)', users);
  const [ids] = (await c.query(`SELECT id FROM users WHERE role = 'CUSTOMER' ORDER BY id`)) as unknown as [{ id: number }[]];
  await insertBatched(
    c,
    'INSERT INTO wallet_accounts (user_id, balance)',
    ids.map((u) => [u.id, opts.balance]),
  );
  await insertBatched(
    c,
    'INSERT INTO wallet_entries (user_id, kind, amount, balance_after, ref)',
    ids.map((u) => [u.id, 'CHARGE', opts.balance, opts.balance, 'bench-seed']),
  );

  const products = Array.from({ length: opts.products }, (_, i) => [store.id, `bench product ${i}`, '', 1000 + (i % 50) * 100, opts.stock]);
  await insertBatched(c, 'INSERT INTO products (store_id, name, description, price, stock)', products);
  const [prows] = (await c.query('SELECT id, store_id, name, price FROM products WHERE store_id = ? ORDER BY id', [store.id])) as unknown as [
    { id: number; store_id: number; name: string; price: number }[],
  ];
  return {
    seller: { userId: seller.id, token: token() },
    storeId: store.id,
    customers: ids.map((u) => ({ userId: u.id, token: token() })),
    products: prows.map((p) => ({ id: p.id, storeId: p.store_id, name: p.name, price: p.price })),
  };
}

const hashToken = (t: string) => createHash('sha256').update(t).digest('base64url');

/** Sessions as SessionService.issue writes them, under a phase's prefix. */
export async function seedSessions(redis: Redis, prefix: string, seeded: Seeded): Promise<void> {
  const keys = redisKeys(prefix);
  const all = [...seeded.customers.map((c) => ({ ...c, role: 'CUSTOMER' })), { ...seeded.seller, role: 'SELLER' }];
  for (let i = 0; i < all.length; i += 2000) {
    const p = redis.pipeline();
    for (const s of all.slice(i, i + 2000)) p.set(keys.session(hashToken(s.token)), JSON.stringify({ userId: s.userId, role: s.role }), 'EX', 86400);
    await p.exec();
  }
}

/** The sold-out gate's counters as products.create sets them (gate.init): the stock MySQL has now. */
export async function seedGate(redis: Redis, c: mysql.Connection, prefix: string, productIds: number[]): Promise<void> {
  const keys = redisKeys(prefix);
  const [rows] = (await c.query(`SELECT id, stock FROM products WHERE id IN (${productIds.map(() => '?').join(',')})`, productIds)) as unknown as [
    { id: number; stock: number }[],
  ];
  const p = redis.pipeline();
  for (const r of rows) p.set(keys.gateAvailable(r.id), r.stock);
  await p.exec();
}

/** An admin account (role ADMIN, inserted by SQL as the README says) with a session token to seed. */
export async function seedAdmin(c: mysql.Connection): Promise<Customer> {
  await c.query(`INSERT INTO users (email, password_hash, name, role) VALUES ('admin@bench.bazaar', 'x', 'bench admin', 'ADMIN')`);
  const [[admin]] = (await c.query(`SELECT id FROM users WHERE email = 'admin@bench.bazaar'`)) as unknown as [[{ id: number }]];
  return { userId: admin.id, token: token() };
}

/** Sessions of any role under a phase's prefix (seedSessions writes the customers' and the seller's). */
export async function seedSessionsFor(redis: Redis, prefix: string, sessions: (Customer & { role: 'CUSTOMER' | 'SELLER' | 'ADMIN' })[]): Promise<void> {
  const keys = redisKeys(prefix);
  const p = redis.pipeline();
  for (const s of sessions) p.set(keys.session(hashToken(s.token)), JSON.stringify({ userId: s.userId, role: s.role }), 'EX', 86400);
  await p.exec();
}
