import type { DataSource } from 'typeorm';
import { ProductStatus, type QuestionView } from '@bazaar/contracts';
import { execute, onReplica, selectRows, type SqlRunner } from '../data-source';

/** The product is unknown or deleted. */
export class QuestionProductNotFoundError extends Error {
  constructor(productId: number) {
    super(`no product ${productId}`);
  }
}

/** The question is unknown, or its product has been deleted. */
export class QuestionNotFoundError extends Error {
  constructor(questionId: number) {
    super(`no question ${questionId}`);
  }
}

/** Only the seller of the product's store answers its questions. */
export class NotYourQuestionError extends Error {
  constructor() {
    super("only the product's seller answers its questions");
  }
}

interface QuestionRow {
  id: number | string;
  product_id: number | string;
  body: string;
  answer: string | null;
  answered_at: Date | null;
  created_at: Date;
}

const COLUMNS = 'id, product_id, body, answer, answered_at, created_at';

const toView = (r: QuestionRow): QuestionView => ({
  id: Number(r.id),
  productId: Number(r.product_id),
  body: r.body,
  answer: r.answer,
  answeredAt: r.answered_at ? r.answered_at.toISOString() : null,
  createdAt: r.created_at.toISOString(),
});

/** Product Q&A: customers ask, the product's seller answers, anyone reads. */
export class QuestionsRepository {
  constructor(private readonly ds: DataSource) {}

  /** Two statements: the insert (which writes nothing unless the product is on sale) and a read-back on the primary. */
  async ask(customerId: number, productId: number, body: string): Promise<QuestionView> {
    const res = await execute(
      this.ds,
      `INSERT INTO questions (product_id, customer_id, body)
       SELECT p.id, ?, ? FROM products p WHERE p.id = ? AND p.status = 'ACTIVE'`,
      [customerId, body, productId],
    );
    if (res.affectedRows === 0) throw new QuestionProductNotFoundError(productId);
    return this.get(this.ds, Number(res.insertId));
  }

  /**
   * One conditional update that writes only when the question's product is on
   * sale and its store belongs to the seller; a second answer replaces the
   * first. When it writes nothing, one read tells NOT_FOUND from FORBIDDEN.
   */
  async answer(sellerId: number, questionId: number, body: string): Promise<QuestionView> {
    const res = await execute(
      this.ds,
      `UPDATE questions q JOIN products p ON p.id = q.product_id JOIN stores s ON s.id = p.store_id
       SET q.answer = ?, q.answered_by = ?, q.answered_at = CURRENT_TIMESTAMP(3)
       WHERE q.id = ? AND p.status = 'ACTIVE' AND s.seller_id = ?`,
      [body, sellerId, questionId, sellerId],
    );
    if (res.affectedRows === 0) {
      const [owner] = await selectRows<{ status: ProductStatus; seller_id: number | string }>(
        this.ds,
        `SELECT p.status, s.seller_id FROM questions q JOIN products p ON p.id = q.product_id JOIN stores s ON s.id = p.store_id WHERE q.id = ?`,
        [questionId],
      );
      if (!owner || owner.status !== ProductStatus.ACTIVE) throw new QuestionNotFoundError(questionId);
      if (Number(owner.seller_id) !== sellerId) throw new NotYourQuestionError();
    }
    return this.get(this.ds, questionId);
  }

  /** A product's questions, newest first, from a replica (a public, read-heavy list). Keyset pagination on (product_id, id). */
  list(productId: number, cursor: number | undefined, limit: number): Promise<{ items: QuestionView[]; nextCursor: string | null }> {
    return onReplica(this.ds, async (q) => {
      const [product] = await selectRows<{ status: ProductStatus }>(q, `SELECT status FROM products WHERE id = ?`, [productId]);
      if (!product || product.status !== ProductStatus.ACTIVE) throw new QuestionProductNotFoundError(productId);
      const rows = await selectRows<QuestionRow>(q, `SELECT ${COLUMNS} FROM questions WHERE product_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, [
        productId,
        cursor ?? Number.MAX_SAFE_INTEGER,
        limit + 1,
      ]);
      const items = rows.slice(0, limit).map(toView);
      return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]?.id) : null };
    });
  }

  private async get(db: SqlRunner, id: number): Promise<QuestionView> {
    const [row] = await selectRows<QuestionRow>(db, `SELECT ${COLUMNS} FROM questions WHERE id = ?`, [id]);
    if (!row) throw new QuestionNotFoundError(id);
    return toView(row);
  }
}
