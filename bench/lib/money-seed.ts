import type { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { redisKeys } from '@bazaar/platform';
import { CouponStore } from '@bazaar/queue';
import type { BazaarClient } from '../../scripts/lib/client';
import { insertBatched, type Customer } from './seed';

/**
 * Money test data: coupons made through the API (coupons.create writes their
 * Redis copy), and for the pipeline, customers who already hold claims and
 * granted points, written straight into MySQL (thousands of rows in a few
 * statements) with each coupon's Redis copy rebuilt from MySQL by
 * CouponStore.rebuild, the way the api rebuilds a lost copy.
 */

export interface CouponSpec {
  name: string;
  quantity: number;
  value?: number;
  minOrderAmount?: number;
}

/** Platform coupons (no storeId), by the admin, valid from a minute ago for `hours`. */
export async function createCoupons(admin: BazaarClient, specs: CouponSpec[], hours = 3): Promise<number[]> {
  const ids: number[] = [];
  for (const s of specs) {
    const made = await admin.coupons.create.mutate({
      name: s.name,
      kind: 'FIXED',
      value: s.value ?? 500,
      minOrderAmount: s.minOrderAmount ?? 0,
      quantity: s.quantity,
      validFrom: new Date(Date.now() - 60_000).toISOString(),
      validUntil: new Date(Date.now() + hours * 3_600_000).toISOString(),
    });
    ids.push(made.couponId);
  }
  return ids;
}

/** Every customer claims each coupon (coupon_claims rows, coupons.claimed raised); then each coupon's Redis copy is rebuilt from MySQL. */
export async function seedClaims(c: mysql.Connection, redis: Redis, prefix: string, couponIds: number[], customers: Customer[]): Promise<void> {
  const now = new Date();
  for (const couponId of couponIds) {
    await insertBatched(
      c,
      'INSERT INTO coupon_claims (coupon_id, user_id, claimed_at)',
      customers.map((u) => [couponId, u.userId, now]),
      2000,
    );
    await c.query('UPDATE coupons SET claimed = claimed + ? WHERE id = ?', [customers.length, couponId]);
  }
  const keys = redisKeys(prefix);
  const store = new CouponStore(redis, keys);
  for (const couponId of couponIds) {
    const [[row]] = (await c.query(
      'SELECT id, store_id, kind, value, max_discount, min_order_amount, quantity, claimed, valid_from, valid_until FROM coupons WHERE id = ?',
      [couponId],
    )) as unknown as [
      [
        {
          id: number;
          store_id: number | null;
          kind: 'FIXED' | 'PERCENT';
          value: number;
          max_discount: number | null;
          min_order_amount: number;
          quantity: number;
          claimed: number;
          valid_from: Date;
          valid_until: Date;
        },
      ],
    ];
    // A rebuild writes only where no copy is: drop the copy coupons.create wrote first.
    await redis.del(keys.couponMeta(couponId), keys.couponHolders(couponId));
    await store.rebuild(
      {
        id: Number(row.id),
        quantity: Number(row.quantity),
        claimed: Number(row.claimed),
        validFromMs: row.valid_from.getTime(),
        validUntilMs: row.valid_until.getTime(),
        terms: {
          kind: row.kind,
          value: Number(row.value),
          maxDiscount: row.max_discount === null ? null : Number(row.max_discount),
          minOrderAmount: Number(row.min_order_amount),
          storeId: row.store_id === null ? null : Number(row.store_id),
        },
      },
      customers.map((u) => ({ userId: u.userId, state: 'A' })),
    );
  }
}

/**
 * Granted points as points.grant writes them: per customer one GRANT lot and
 * its GRANT movement naming the admin, for each `lots` entry (amount, days to
 * expiry). Returns each customer's balance.
 */
export async function seedPoints(c: mysql.Connection, adminId: number, customers: Customer[], lots: { amount: number; days: number }[]): Promise<number> {
  const now = new Date();
  for (const [n, lot] of lots.entries()) {
    const expires = new Date(now.getTime() + lot.days * 86_400_000);
    await insertBatched(
      c,
      'INSERT INTO point_lots (user_id, source, ref, amount, remaining, expires_at, created_at)',
      customers.map((u) => [u.userId, 'GRANT', `bench-grant-${n}`, lot.amount, lot.amount, expires, now]),
      2000,
    );
  }
  await c.query(
    `INSERT INTO point_movements (user_id, lot_id, kind, amount, ref, actor_id, reason, created_at)
     SELECT user_id, id, 'GRANT', amount, ref, ?, 'bench seed', created_at FROM point_lots WHERE source = 'GRANT' AND ref LIKE 'bench-grant-%'`,
    [adminId],
  );
  return lots.reduce((s, l) => s + l.amount, 0);
}
