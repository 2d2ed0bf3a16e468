import type { DataSource } from 'typeorm';
import { LIMITS, ProductStatus, type CartLineView, type CartView } from '@bazaar/contracts';
import { execute, isRetryableTxError, mysqlErrno, selectRows, type SqlRunner } from '../data-source';

/** The product is unknown or deleted. */
export class CartProductNotFoundError extends Error {
  constructor(productId: number) {
    super(`no product ${productId}`);
  }
}

/** The product is not in the caller's cart (or is no longer on sale). */
export class CartLineNotFoundError extends Error {
  constructor(productId: number) {
    super(`product ${productId} is not in your cart`);
  }
}

/** Adding would take the line past LIMITS.maxQuantityPerLine. */
export class CartLineLimitError extends Error {
  constructor() {
    super(`a cart line holds at most ${LIMITS.maxQuantityPerLine} units`);
  }
}

/** A CHECK constraint refused the row: MariaDB ER_CONSTRAINT_FAILED (4025), MySQL ER_CHECK_CONSTRAINT_VIOLATED (3819). */
function isCheckViolation(err: unknown, constraint: string): boolean {
  const n = mysqlErrno(err);
  return (n === 4025 || n === 3819) && err instanceof Error && err.message.includes(constraint);
}

/** Runs one autocommit statement, again on deadlock / lock-wait timeout (the failed statement had no effect). */
async function retrying<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isRetryableTxError(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20 * i)));
    }
  }
}

interface LineRow {
  product_id: number | string;
  quantity: number | string;
  added_at: Date;
  name: string;
  store_id: number | string;
  price: number | string;
  stock: number | string;
  status: ProductStatus;
}

/** Priced with the product's current price and stock; the total counts the available lines only. */
export function toCartView(rows: LineRow[]): CartView {
  const items = rows.map((r): CartLineView => {
    const quantity = Number(r.quantity);
    const unitPrice = Number(r.price);
    const stock = Number(r.stock);
    return {
      productId: Number(r.product_id),
      name: r.name,
      storeId: Number(r.store_id),
      unitPrice,
      stock,
      quantity,
      subtotal: unitPrice * quantity,
      available: r.status === ProductStatus.ACTIVE && stock >= quantity,
      addedAt: r.added_at.toISOString(),
    };
  });
  return { items, total: items.reduce((sum, l) => (l.available ? sum + l.subtotal : sum), 0) };
}

/**
 * A customer's cart: one row per (user, product). Every change is one
 * conditional statement on the primary, so concurrent changes by the same
 * customer never lose an update; reads go to the primary too (read-your-writes).
 */
export class CartRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * One statement: inserts the line, or adds to its quantity. The product must
   * be on sale (else no row is written); chk_cart_items_quantity refuses a sum past 99.
   */
  async add(userId: number, productId: number, quantity: number): Promise<void> {
    const res = await retrying(() =>
      execute(
        this.ds,
        `INSERT INTO cart_items (user_id, product_id, quantity)
         SELECT ?, p.id, ? FROM products p WHERE p.id = ? AND p.status = 'ACTIVE'
         ON DUPLICATE KEY UPDATE quantity = cart_items.quantity + ?`,
        [userId, quantity, productId, quantity],
      ),
    ).catch((err: unknown) => {
      throw isCheckViolation(err, 'chk_cart_items_quantity') ? new CartLineLimitError() : err;
    });
    if (res.affectedRows === 0) throw new CartProductNotFoundError(productId);
  }

  /** One statement; a second (a read) only when no row matched, to tell "no such line" from "already that quantity". */
  async setQuantity(userId: number, productId: number, quantity: number): Promise<void> {
    const res = await execute(
      this.ds,
      `UPDATE cart_items c JOIN products p ON p.id = c.product_id SET c.quantity = ?
       WHERE c.user_id = ? AND c.product_id = ? AND p.status = 'ACTIVE'`,
      [quantity, userId, productId],
    );
    if (res.affectedRows === 0 && !(await this.hasActiveLine(this.ds, userId, productId))) throw new CartLineNotFoundError(productId);
  }

  /** Removes the line, also when its product has been deleted meanwhile. */
  async remove(userId: number, productId: number): Promise<void> {
    const res = await execute(this.ds, `DELETE FROM cart_items WHERE user_id = ? AND product_id = ?`, [userId, productId]);
    if (res.affectedRows === 0) throw new CartLineNotFoundError(productId);
  }

  async clear(userId: number): Promise<void> {
    await execute(this.ds, `DELETE FROM cart_items WHERE user_id = ?`, [userId]);
  }

  /** The whole cart with current prices and stock, in one statement on the primary. */
  async view(userId: number): Promise<CartView> {
    const rows = await selectRows<LineRow>(
      this.ds,
      `SELECT c.product_id, c.quantity, c.added_at, p.name, p.store_id, p.price, p.stock, p.status
       FROM cart_items c JOIN products p ON p.id = c.product_id
       WHERE c.user_id = ? ORDER BY c.added_at, c.product_id`,
      [userId],
    );
    return toCartView(rows);
  }

  /**
   * What orders.place with fromCart orders: every line (product and quantity), oldest first, in one
   * statement on the primary (read-your-writes: a line added just before is ordered too).
   */
  async lines(userId: number): Promise<{ productId: number; quantity: number }[]> {
    const rows = await selectRows<{ product_id: number | string; quantity: number | string }>(
      this.ds,
      `SELECT product_id, quantity FROM cart_items WHERE user_id = ? ORDER BY added_at, product_id`,
      [userId],
    );
    return rows.map((r) => ({ productId: Number(r.product_id), quantity: Number(r.quantity) }));
  }

  private async hasActiveLine(db: SqlRunner, userId: number, productId: number): Promise<boolean> {
    const rows = await selectRows<{ one: number }>(
      db,
      `SELECT 1 AS one FROM cart_items c JOIN products p ON p.id = c.product_id
       WHERE c.user_id = ? AND c.product_id = ? AND p.status = 'ACTIVE'`,
      [userId, productId],
    );
    return rows.length > 0;
  }
}
