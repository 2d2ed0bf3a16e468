import type { Job, Queue } from 'bullmq';
import type { DataSource, QueryRunner } from 'typeorm';
import { TRPCError } from '@trpc/server';
import {
  OrderStatus,
  RefundKind,
  RefundRefusal,
  CancelRefusal,
  RefundStatus,
  Role,
  type RefundLineView,
  type RefundRequestInput,
  type RefundRequestResult,
  type RefundView,
} from '@bazaar/contracts';
import { inRetryingTransaction, isDuplicateKey, refundRequestHash, type RefundRow, type RefundableOrder, type RefundsRepository } from '@bazaar/db';
import { newId, type Logger, type Metrics } from '@bazaar/platform';
import { enqueueRefund, type AcceptedOrderStore, type RefundJobData } from '@bazaar/queue';
import { badField, preconditionFailed } from '../errors';

export interface Caller {
  userId: number;
  role: Role;
}

const notFound = (orderId: string) => new TRPCError({ code: 'NOT_FOUND', message: `no order ${orderId}` });
const REFUNDABLE: readonly OrderStatus[] = [OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED];

type Created = { refundId: string; status: RefundStatus; created: boolean };

/**
 * `refunds.request` and `orders.cancel` of a paid order: one transaction on
 * the primary under the order row's lock (so concurrent requests see each
 * other's pending units, and duplicates of one key see the first), then the
 * job on the `refunds` queue. A refund recorded but not enqueued (Redis
 * down, the api killed) is enqueued by the reconciler.
 */
export class RefundService {
  constructor(
    private readonly ds: DataSource,
    private readonly refunds: RefundsRepository,
    private readonly store: AcceptedOrderStore,
    private readonly queue: Queue<RefundJobData>,
    private readonly metrics: Metrics,
  ) {}

  async request(caller: Caller, input: RefundRequestInput, requestId: string, log: Logger): Promise<RefundRequestResult> {
    const hash = refundRequestHash(RefundKind.REFUND, input.orderId, input.items);
    const seen = await this.refunds.findByKey(this.ds, caller.userId, input.idempotencyKey);
    if (seen) return this.replay(seen, hash);
    const refundId = newId();
    const made = await this.record(caller, { key: input.idempotencyKey, hash, refundId, orderId: input.orderId }, async (q, o) => {
      this.authorize(caller, o, input);
      if (!REFUNDABLE.includes(o.status)) {
        throw preconditionFailed(RefundRefusal.ORDER_NOT_REFUNDABLE, `an order in status ${o.status} cannot be refunded`);
      }
      input.items.forEach((item, i) => {
        const line = o.lines.find((l) => l.orderItemId === item.orderItemId)!;
        const left = line.quantity - line.refundedQuantity - line.pendingQuantity;
        if (item.quantity > left) {
          throw preconditionFailed(
            RefundRefusal.REFUND_EXCEEDS_REMAINING,
            `items.${i}: ${left} of ${line.quantity} units of line ${line.orderItemId} are left to refund (refunds still pending count)`,
          );
        }
      });
      await this.refunds.insertRequest(q, {
        id: refundId,
        orderId: o.orderId,
        userId: o.userId,
        kind: RefundKind.REFUND,
        requestedBy: caller.userId,
        requesterRole: caller.role,
        idempotencyKey: input.idempotencyKey,
        requestHash: hash,
        requestId,
        createdAt: new Date(),
        items: input.items,
      });
    });
    if (made.created) {
      this.metrics.refunds.inc({ outcome: 'requested' });
      await this.enqueue({ refundId, orderId: input.orderId, userId: made.customerId, requestId }, log);
    }
    return { refundId: made.refundId, status: made.status };
  }

  /**
   * orders.cancel of a PAID order: a refund of every unit (kind CANCEL, one
   * per order), after which the order is CANCELLED. Refused while another
   * refund of the order is pending; an order refunded in part cannot be
   * cancelled (refund the rest).
   */
  async requestCancel(customerId: number, orderId: string, requestId: string, log: Logger): Promise<Created & { job: Job<RefundJobData> | null }> {
    const refundId = newId();
    const record = () =>
      inRetryingTransaction(
        this.ds,
        (q) => this.refunds.recordCancel(q, orderId, customerId, { id: refundId, requestId, createdAt: new Date() }),
        5,
        'READ COMMITTED',
      );
    // Two first cancels at once: the loser of the unique key reads the winner's refund (recordCancel answers it).
    const made = await record().catch((err: unknown) => {
      if (isDuplicateKey(err)) return record();
      throw err;
    });
    if ('refused' in made) {
      if (made.refused === 'NOT_FOUND') throw notFound(orderId);
      if (made.refused === 'NOT_PAID')
        throw preconditionFailed(RefundRefusal.ORDER_NOT_REFUNDABLE, `an order in status ${made.orderStatus} cannot be cancelled`);
      if (made.refused === 'ALREADY_FULFILLED') {
        throw preconditionFailed(
          CancelRefusal.ALREADY_FULFILLED,
          'a store has already shipped or readied its part of this order; request a refund of the lines instead',
        );
      }
      throw preconditionFailed(RefundRefusal.REFUND_IN_PROGRESS, 'a refund of this order is still pending; request a refund of the rest instead');
    }
    if (made.created) {
      this.metrics.refunds.inc({ outcome: 'requested' });
      log.info({ refundId, orderId }, 'paid order to be cancelled by a full refund');
    }
    return this.cancelRefundJob(made, { orderId, userId: customerId, requestId }, log);
  }

  /**
   * The cancel refund's job, for orders.cancel to wait on: added if it is not there yet (by the refund id, so
   * concurrent cancels of one order — the first still between its commit and its enqueue — all get the one job).
   */
  private async cancelRefundJob(r: Created, data: Omit<RefundJobData, 'refundId'>, log: Logger): Promise<Created & { job: Job<RefundJobData> | null }> {
    if (r.status !== RefundStatus.PENDING) return { ...r, job: null };
    try {
      return { ...r, job: await enqueueRefund(this.queue, { ...data, refundId: r.refundId }) };
    } catch (err) {
      log.warn({ err, refundId: r.refundId }, 'refund enqueue failed; the reconciler will enqueue it');
      return { ...r, job: null };
    }
  }

  /**
   * The request's transaction: lock the order, see whether a duplicate of this
   * key committed meanwhile (READ COMMITTED sees it), else let `insert` check
   * and write. A duplicate that wins the unique key in between is answered
   * from its row.
   */
  private async record(
    caller: Caller,
    request: { key: string; hash: string; refundId: string; orderId: string },
    insert: (q: QueryRunner, o: RefundableOrder) => Promise<void>,
  ): Promise<Created & { customerId: number }> {
    const { key, hash, refundId, orderId } = request;
    try {
      return await inRetryingTransaction(
        this.ds,
        async (q) => {
          const o = await this.refunds.lockRefundableOrder(q, orderId);
          if (!o) {
            // Accepted but not applied yet: the customer's order exists, it just cannot be refunded yet.
            if (caller.role === Role.CUSTOMER && (await this.store.get(caller.userId, orderId))) {
              throw preconditionFailed(RefundRefusal.ORDER_NOT_REFUNDABLE, 'the order is still being placed; it cannot be refunded yet');
            }
            throw notFound(orderId);
          }
          const again = await this.refunds.findByKey(q, caller.userId, key);
          if (again) return { ...this.replay(again, hash), created: false, customerId: o.userId };
          await insert(q, o);
          return { refundId, status: RefundStatus.PENDING, created: true, customerId: o.userId };
        },
        5,
        'READ COMMITTED',
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const first = await this.refunds.findByKey(this.ds, caller.userId, key);
      if (!first) throw err;
      const row = await this.refunds.get(first.id);
      return { ...this.replay(first, hash), created: false, customerId: row?.userId ?? caller.userId };
    }
  }

  /** A duplicate gets the first refund back; the same key with other parameters is a CONFLICT. */
  private replay(seen: { id: string; status: RefundStatus; requestHash: string }, hash: string): RefundRequestResult {
    if (seen.requestHash !== hash) throw new TRPCError({ code: 'CONFLICT', message: 'this idempotencyKey was used for another refund' });
    return { refundId: seen.id, status: seen.status };
  }

  /**
   * Who may refund which lines: the order's customer any line, an admin any
   * line, a seller only their own stores' lines (an order with none of their
   * lines is not theirs to see). Lines the order does not have are a bad field.
   */
  private authorize(caller: Caller, o: RefundableOrder, input: RefundRequestInput): void {
    const sellerLines = o.lines.filter((l) => l.sellerId === caller.userId);
    if (caller.role === Role.CUSTOMER && o.userId !== caller.userId) throw notFound(o.orderId);
    if (caller.role === Role.SELLER && sellerLines.length === 0) throw notFound(o.orderId);
    input.items.forEach((item, i) => {
      const line = o.lines.find((l) => l.orderItemId === item.orderItemId);
      if (!line) throw badField(['items', i, 'orderItemId'], `order ${o.orderId} has no line ${item.orderItemId}`);
      if (caller.role === Role.SELLER && line.sellerId !== caller.userId) {
        throw new TRPCError({
          code: 'FORBIDDEN',
          message: `items.${i}: line ${item.orderItemId} belongs to another store; a seller refunds only their own store's lines`,
        });
      }
    });
  }

  private async enqueue(data: RefundJobData, log: Logger): Promise<void> {
    try {
      await enqueueRefund(this.queue, data);
    } catch (err) {
      // Recorded in MySQL: the reconciler enqueues it. The caller's answer stands.
      log.warn({ err, refundId: data.refundId }, 'refund enqueue failed; the reconciler will enqueue it');
    }
    log.info({ refundId: data.refundId, orderId: data.orderId }, 'refund requested');
  }

  // ---- reads ----

  /** A refund as the caller may see it: the customer and admins all of it, a seller their own stores' lines. Null: not theirs. */
  async get(caller: Caller, refundId: string): Promise<RefundView | null> {
    const row = await this.refunds.get(refundId);
    return row ? refundView(row, caller) : null;
  }

  /** The order's refunds the caller may see, newest first; null when the order is not theirs to see. */
  async list(caller: Caller, orderId: string): Promise<RefundView[] | null> {
    const parties = await this.refunds.orderParties(orderId);
    if (!parties) return null;
    const allowed =
      caller.role === Role.ADMIN ||
      (caller.role === Role.CUSTOMER && parties.userId === caller.userId) ||
      (caller.role === Role.SELLER && parties.sellerIds.includes(caller.userId));
    if (!allowed) return null;
    const rows = await this.refunds.listOfOrder(orderId);
    return rows.map((r) => refundView(r, caller)).filter((v): v is RefundView => v !== null);
  }
}

/** The view of a refund for `caller`, or null when nothing of it is theirs. */
export function refundView(r: RefundRow, caller: Caller): RefundView | null {
  const mine =
    caller.role === Role.ADMIN || (caller.role === Role.CUSTOMER && r.userId === caller.userId)
      ? r.items
      : caller.role === Role.SELLER
        ? r.items.filter((i) => i.sellerId === caller.userId)
        : [];
  if (mine.length === 0) return null;
  const whole = mine.length === r.items.length;
  // Amounts are what went back: shown once the refund COMPLETED (a FAILED one gave nothing back; a PENDING one
  // may be priced already, but nothing has gone back yet).
  const done = r.status === RefundStatus.COMPLETED;
  const items: RefundLineView[] = mine.map((i) => ({
    orderItemId: i.orderItemId,
    productId: i.productId,
    storeId: i.storeId,
    productName: i.productName,
    quantity: i.quantity,
    cash: done ? i.cash : null,
    points: done ? i.points : null,
    clawback: done ? i.clawback : null,
  }));
  const total = (pick: (l: RefundLineView) => number | null): number | null => (done ? items.reduce((s, l) => s + (pick(l) ?? 0), 0) : null);
  return {
    id: r.id,
    orderId: r.orderId,
    kind: r.kind,
    status: r.status,
    failureReason: r.failureReason,
    failureCode: r.failureCode,
    paymentMethod: r.paymentMethod,
    requestedBy: { userId: r.requestedBy, role: r.requesterRole },
    items,
    cash: total((l) => l.cash),
    points: total((l) => l.points),
    clawback: total((l) => l.clawback),
    clawbackFromCash: done && whole ? r.clawbackFromCash : null,
    cashReturned: done && whole ? r.cashReturned : null,
    createdAt: r.createdAt.toISOString(),
    completedAt: r.completedAt ? r.completedAt.toISOString() : null,
  };
}
