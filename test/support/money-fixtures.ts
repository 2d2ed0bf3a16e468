import type { DataSource } from 'typeorm';
import { Role, WalletEntryKind } from '@bazaar/contracts';
import { execute, selectRows } from '@bazaar/db';
import type { TestApi } from './api-harness';
import { tag } from './db-fixtures';

/**
 * Accounts for money tests, made in SQL with a session issued directly
 * (argon2 signups are too slow for hundreds of customers): a customer with a
 * wallet, a seller, and an admin (which signup never makes).
 */
export function moneyFixtures(api: () => TestApi) {
  const ds = (): DataSource => api().deps.ds;

  async function account(role: Role, balance?: number) {
    const res = await execute(ds(), `INSERT INTO users (email, password_hash, name, role) VALUES (?, 'not-a-real-hash', ?, ?)`, [
      `${role.toLowerCase()}-${tag()}@test.bazaar`,
      role.toLowerCase(),
      role,
    ]);
    const id = Number(res.insertId);
    if (balance !== undefined) {
      await execute(ds(), `INSERT INTO wallet_accounts (user_id, balance) VALUES (?, ?)`, [id, balance]);
      if (balance > 0) {
        await execute(ds(), `INSERT INTO wallet_entries (user_id, kind, amount, balance_after, ref) VALUES (?, ?, ?, ?, ?)`, [
          id,
          WalletEntryKind.CHARGE,
          balance,
          balance,
          `seed-${tag()}`,
        ]);
      }
    }
    const { token } = await api().deps.sessions.issue({ userId: id, role });
    return { id, token, client: api().client(token) };
  }

  /** A new seller with a store holding the given products (made through the API). */
  async function store(products: { name: string; price: number; stock: number }[], name = 'Test store') {
    const seller = await account(Role.SELLER);
    const made = await seller.client.stores.create.mutate({ name });
    const items = [];
    for (const p of products) items.push(await seller.client.products.create.mutate({ storeId: made.id, description: '', ...p }));
    return { seller, store: made, products: items };
  }

  return {
    customer: (balance = 0) => account(Role.CUSTOMER, balance),
    seller: () => account(Role.SELLER),
    admin: () => account(Role.ADMIN),
    store,
  };
}

/**
 * The points ledger rebuilt from its rows, compared with what it holds
 * (money.md §3): every lot's remaining is the sum of its movements and lies
 * within 0..amount; every spend equals its mapping rows; every mapping row's
 * returned part lies within its amount. Returns the problems found (none: []).
 */
export async function ledgerProblems(ds: DataSource, userIds?: number[]): Promise<string[]> {
  const scope = userIds && userIds.length > 0 ? `WHERE l.user_id IN (${userIds.map(() => '?').join(',')})` : '';
  const lots = await selectRows<{ id: number; amount: number | string; remaining: number | string; moved: number | string | null }>(
    ds,
    `SELECT l.id, l.amount, l.remaining, (SELECT SUM(m.amount) FROM point_movements m WHERE m.lot_id = l.id) AS moved FROM point_lots l ${scope}`,
    userIds ?? [],
  );
  const problems: string[] = [];
  for (const l of lots) {
    const remaining = Number(l.remaining);
    if (Number(l.moved ?? 0) !== remaining) problems.push(`lot ${l.id}: remaining ${remaining} but its movements sum to ${l.moved}`);
    if (remaining < 0 || remaining > Number(l.amount)) problems.push(`lot ${l.id}: remaining ${remaining} outside 0..${l.amount}`);
  }
  const spendScope = userIds && userIds.length > 0 ? `WHERE s.user_id IN (${userIds.map(() => '?').join(',')})` : '';
  const spends = await selectRows<{ order_id: string; amount: number | string; mapped: number | string | null; bad: number | string }>(
    ds,
    `SELECT s.order_id, s.amount, SUM(m.amount) AS mapped, SUM(m.returned > m.amount) AS bad
     FROM point_spends s LEFT JOIN point_spend_lots m ON m.order_id = s.order_id ${spendScope} GROUP BY s.order_id, s.amount`,
    userIds ?? [],
  );
  for (const s of spends) {
    if (Number(s.mapped ?? 0) !== Number(s.amount)) problems.push(`spend of order ${s.order_id}: ${s.amount} but its lots sum to ${s.mapped}`);
    if (Number(s.bad) > 0) problems.push(`spend of order ${s.order_id}: a lot row returned more than it took`);
  }
  return problems;
}

/** The live balance rebuilt from the movements of lots not yet expired (what points.balance must answer). */
export async function balanceFromLedger(ds: DataSource, userId: number, now = new Date()): Promise<number> {
  const [row] = await selectRows<{ b: number | string | null }>(
    ds,
    `SELECT SUM(m.amount) AS b FROM point_movements m JOIN point_lots l ON l.id = m.lot_id WHERE l.user_id = ? AND l.expires_at > ?`,
    [userId, now],
  );
  return Number(row?.b ?? 0);
}
