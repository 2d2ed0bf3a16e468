import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { PaymentMethod, ProductStatus, WalletEntryKind } from '@bazaar/contracts';
import { execute } from '@bazaar/db';
import { newId } from '@bazaar/platform';
import type { AcceptedLine, AcceptedOrder } from '@bazaar/queue';

/** Unique to this process and call: for emails, names and refs of fixture rows. */
export const tag = () => `${process.pid}-${randomBytes(6).toString('hex')}`;

export interface Product {
  id: number;
  storeId: number;
  name: string;
  price: number;
}

/**
 * Fixtures in plain SQL, fresh rows on every call. `ds` may be a getter, for
 * a spec whose data source is only set in its beforeAll.
 */
export function sqlFixtures(ds: DataSource | (() => DataSource)) {
  const db = typeof ds === 'function' ? ds : () => ds;

  async function newUser(role: 'CUSTOMER' | 'SELLER', emailPrefix = role.toLowerCase()): Promise<number> {
    const res = await execute(db(), `INSERT INTO users (email, password_hash, name, role) VALUES (?, ?, ?, ?)`, [
      `${emailPrefix}-${tag()}@test.bazaar`,
      'not-a-real-hash',
      role.toLowerCase(),
      role,
    ]);
    return Number(res.insertId);
  }

  /** A customer whose wallet holds `balance`, explained by one CHARGE ledger row. */
  async function newCustomer(balance: number): Promise<number> {
    const userId = await newUser('CUSTOMER');
    await execute(db(), `INSERT INTO wallet_accounts (user_id, balance) VALUES (?, ?)`, [userId, balance]);
    await execute(db(), `INSERT INTO wallet_entries (user_id, kind, amount, balance_after, ref) VALUES (?, ?, ?, ?, ?)`, [
      userId,
      WalletEntryKind.CHARGE,
      balance,
      balance,
      `seed-${tag()}`,
    ]);
    return userId;
  }

  /** A store of a new seller. */
  async function newStore(name = 'Test store'): Promise<number> {
    const sellerId = await newUser('SELLER');
    const res = await execute(db(), `INSERT INTO stores (seller_id, name) VALUES (?, ?)`, [sellerId, name]);
    return Number(res.insertId);
  }

  async function newProduct(storeId: number, price: number, stock: number, status: ProductStatus = ProductStatus.ACTIVE): Promise<Product> {
    const name = `Product ${tag()}`;
    const res = await execute(db(), `INSERT INTO products (store_id, name, description, price, stock, status) VALUES (?, ?, '', ?, ?, ?)`, [
      storeId,
      name,
      price,
      stock,
      status,
    ]);
    return { id: Number(res.insertId), storeId, name, price };
  }

  return { newUser, newCustomer, newStore, newProduct };
}

/** An accepted line for `quantity` of `p` at its price. */
export const line = (p: Product, quantity: number): AcceptedLine => ({ productId: p.id, storeId: p.storeId, name: p.name, unitPrice: p.price, quantity });

/**
 * A BALANCE order as the API accepts it: accepted `ageMs` ago (default now;
 * the pending index is scored by acceptance time), to be picked up tomorrow
 * unless `fulfillment` says otherwise.
 */
export function acceptedOrderFor(
  userId: number,
  lines: AcceptedLine[],
  opts: { ageMs?: number; fulfillment?: AcceptedOrder['fulfillment'] } = {},
): AcceptedOrder {
  const orderId = newId();
  return {
    orderId,
    userId,
    requestId: `req-${orderId}`,
    idempotencyKey: `key-${orderId}`,
    acceptedAt: new Date(Date.now() - (opts.ageMs ?? 0)).toISOString(),
    paymentMethod: PaymentMethod.BALANCE,
    fulfillment: opts.fulfillment ?? { type: 'PICKUP', pickupAt: new Date(Date.now() + 86400_000).toISOString() },
    lines,
  };
}
