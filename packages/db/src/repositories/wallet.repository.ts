import type { DataSource } from 'typeorm';
import { LIMITS, WalletEntryKind, type WalletEntryView } from '@bazaar/contracts';
import { execute, inRetryingTransaction, selectRows } from '../data-source';

export class IdempotencyConflictError extends Error {
  constructor() {
    super('idempotency key already used with other parameters');
  }
}

export class WalletLimitError extends Error {
  constructor() {
    super(`a wallet holds at most ${LIMITS.maxWalletBalance} won`);
  }
}

interface EntryRow {
  id: number | string;
  kind: WalletEntryKind;
  amount: number | string;
  balance_after: number | string;
  ref: string;
  created_at: Date;
}

const toView = (r: EntryRow): WalletEntryView => ({
  id: Number(r.id),
  kind: r.kind,
  amount: Number(r.amount),
  balanceAfter: Number(r.balance_after),
  ref: r.ref,
  createdAt: r.created_at.toISOString(),
});

export class WalletRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * An idempotent top-up: the account row is locked first, so concurrent
   * duplicates run one after the other and all but the first replay it.
   * Five statements: upsert account, lock it, look the key up, credit, ledger row.
   */
  charge(userId: number, amount: number, key: string): Promise<{ entry: WalletEntryView; replayed: boolean }> {
    return inRetryingTransaction(this.ds, async (q) => {
      await q.query(`INSERT INTO wallet_accounts (user_id, balance) VALUES (?, 0) ON DUPLICATE KEY UPDATE user_id = user_id`, [userId]);
      const [acc] = await selectRows<{ balance: number | string }>(q, `SELECT balance FROM wallet_accounts WHERE user_id = ? FOR UPDATE`, [userId]);
      const [existing] = await selectRows<EntryRow>(
        q,
        `SELECT id, kind, amount, balance_after, ref, created_at FROM wallet_entries WHERE user_id = ? AND kind = ? AND ref = ?`,
        [userId, WalletEntryKind.CHARGE, key],
      );
      if (existing) {
        if (Number(existing.amount) !== amount) throw new IdempotencyConflictError();
        return { entry: toView(existing), replayed: true };
      }
      const balanceAfter = Number(acc?.balance ?? 0) + amount;
      if (balanceAfter > LIMITS.maxWalletBalance) throw new WalletLimitError();
      await q.query(`UPDATE wallet_accounts SET balance = ? WHERE user_id = ?`, [balanceAfter, userId]);
      const res = await execute(q, `INSERT INTO wallet_entries (user_id, kind, amount, balance_after, ref) VALUES (?, ?, ?, ?, ?)`, [
        userId,
        WalletEntryKind.CHARGE,
        amount,
        balanceAfter,
        key,
      ]);
      return {
        entry: { id: Number(res.insertId), kind: WalletEntryKind.CHARGE, amount, balanceAfter, ref: key, createdAt: new Date().toISOString() },
        replayed: false,
      };
    });
  }

  /** Primary read: a customer sees their own top-up at once. */
  async balance(userId: number): Promise<number> {
    const [row] = await selectRows<{ balance: number | string }>(this.ds, `SELECT balance FROM wallet_accounts WHERE user_id = ?`, [userId]);
    return Number(row?.balance ?? 0);
  }

  async history(userId: number, cursor: number | undefined, limit: number): Promise<{ items: WalletEntryView[]; nextCursor: string | null }> {
    const rows = await selectRows<EntryRow>(
      this.ds,
      `SELECT id, kind, amount, balance_after, ref, created_at FROM wallet_entries
       WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
      [userId, cursor ?? Number.MAX_SAFE_INTEGER, limit + 1],
    );
    const items = rows.slice(0, limit).map(toView);
    return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]?.id) : null };
  }
}
