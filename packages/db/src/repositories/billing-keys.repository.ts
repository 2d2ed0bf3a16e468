import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { BillingCardView } from '@bazaar/contracts';
import { execute, isDuplicateKey, selectRows } from '../data-source';
import type { Statement } from './sql-batch';

/** A billing key the gateway issued, as the api records it. */
export interface IssuedBillingKey {
  billingKey: string;
  customerKey: string;
  method: string | null;
  authenticatedAt: Date | null;
  card: BillingCardView | null;
}

/**
 * Customers' billing keys (CARD subscriptions) and their customerKeys. Every read of a key is scoped by its
 * owner: a key is only ever found for the customer it was issued to.
 */
export class BillingKeysRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * The customer's customerKey: made once (random, `ck_` and 24 base64url characters: opaque, not derived
   * from the user id), the same on every later call. Two first calls at once still agree: the insert is
   * conditional and both read the row that won. 2 statements.
   */
  async customerKey(userId: number): Promise<string> {
    await execute(this.ds, 'INSERT IGNORE INTO billing_customers (user_id, customer_key) VALUES (?, ?)', [
      userId,
      `ck_${randomBytes(18).toString('base64url')}`,
    ]);
    const [row] = await selectRows<{ customer_key: string }>(this.ds, 'SELECT customer_key FROM billing_customers WHERE user_id = ?', [userId]);
    if (!row) throw new Error(`no customerKey for user ${userId} after creating it`);
    return row.customer_key;
  }

  /**
   * Records a key the gateway issued to the customer. 'exists' when it is already theirs (a retry of the same
   * registration), 'taken' when the key is recorded for someone else (never expected: the gateway binds a key
   * to one customerKey). 1 statement (2 on a duplicate).
   */
  async record(userId: number, k: IssuedBillingKey, now: Date): Promise<'stored' | 'exists' | 'taken'> {
    try {
      await execute(
        this.ds,
        `INSERT INTO billing_keys (user_id, customer_key, billing_key, method, card_issuer_code, card_acquirer_code, card_number, card_type, card_owner_type,
           authenticated_at, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ACTIVE', ?)`,
        [
          userId,
          k.customerKey,
          k.billingKey,
          k.method,
          k.card?.issuerCode ?? null,
          k.card?.acquirerCode ?? null,
          k.card?.number ?? null,
          k.card?.cardType ?? null,
          k.card?.ownerType ?? null,
          k.authenticatedAt,
          now,
        ],
      );
      return 'stored';
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const [row] = await selectRows<{ user_id: number | string }>(this.ds, 'SELECT user_id FROM billing_keys WHERE billing_key = ?', [k.billingKey]);
      return row && Number(row.user_id) === userId ? 'exists' : 'taken';
    }
  }

  /** The customerKey to charge an ACTIVE key of this customer with; null when the key is not theirs or was deleted. 1 statement. */
  async activeKey(userId: number, billingKey: string): Promise<{ customerKey: string } | null> {
    const [row] = await selectRows<{ customer_key: string }>(
      this.ds,
      `SELECT customer_key FROM billing_keys WHERE billing_key = ? AND user_id = ? AND status = 'ACTIVE'`,
      [billingKey, userId],
    );
    return row ? { customerKey: row.customer_key } : null;
  }

  /** The key's row as the customer sees it (any status), or null when it is not theirs. */
  async find(userId: number, billingKey: string): Promise<{ status: 'ACTIVE' | 'DELETED'; gatewayDeletedAt: Date | null } | null> {
    const [row] = await selectRows<{ status: 'ACTIVE' | 'DELETED'; gateway_deleted_at: Date | null }>(
      this.ds,
      'SELECT status, gateway_deleted_at FROM billing_keys WHERE billing_key = ? AND user_id = ?',
      [billingKey, userId],
    );
    return row ? { status: row.status, gatewayDeletedAt: row.gateway_deleted_at } : null;
  }

  /** Keys DELETED here before `before` whose delete the gateway never confirmed (it failed at the time). 1 statement. */
  async gatewayDeletesOwed(before: Date, limit: number): Promise<string[]> {
    const rows = await selectRows<{ billing_key: string }>(
      this.ds,
      `SELECT billing_key FROM billing_keys WHERE status = 'DELETED' AND gateway_deleted_at IS NULL AND deleted_at < ? ORDER BY id LIMIT ?`,
      [before, limit],
    );
    return rows.map((r) => r.billing_key);
  }

  /** The gateway confirmed it deleted the key (it was DELETED here first). */
  async markGatewayDeleted(billingKey: string, now: Date): Promise<void> {
    await execute(this.ds, `UPDATE billing_keys SET gateway_deleted_at = COALESCE(gateway_deleted_at, ?) WHERE billing_key = ? AND status = 'DELETED'`, [
      now,
      billingKey,
    ]);
  }

  /**
   * A billing charge's payment row is reserved before the gateway names the payment; when the order is
   * committed PAID its paymentKey (what refunds and cancels use) replaces the placeholder. 1 statement.
   */
  static paymentKeyStmt(orderId: string, paymentKey: string): Statement {
    return { sql: 'UPDATE payments SET payment_key = ? WHERE order_id = ?', params: [paymentKey, orderId] };
  }
}
