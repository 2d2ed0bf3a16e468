import type { Queue } from 'bullmq';
import type { OrdersRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
import { enqueueCancel, type OrdersQueueData } from '@bazaar/queue';

/**
 * Card orders left awaiting payment past the expiry are cancelled (units
 * released; a charge that went through after all is cancelled at the
 * gateway), and card charges still open for orders that ended FAILED or
 * CANCELLED (a void that did not get through) are voided. Both as cancel
 * jobs, so the worker does them under the customer's lock.
 */
export class ExpireCardOrdersJob {
  static readonly NAME = 'expire-card-orders';

  constructor(
    private readonly orders: OrdersRepository,
    private readonly queue: Queue<OrdersQueueData>,
    private readonly expirySeconds: number,
  ) {}

  async run(log: Logger): Promise<{ expired: number; voided: number }> {
    const expired = await this.orders.awaitingPaymentSince(new Date(Date.now() - this.expirySeconds * 1000), 500);
    for (const o of expired) await enqueueCancel(this.queue, { ...o, requestId: `expire-${o.orderId}`, reason: 'EXPIRED' });
    const open = await this.orders.openPaymentsOfEndedOrders(500);
    for (const o of open) await enqueueCancel(this.queue, { ...o, requestId: `audit-${o.orderId}`, reason: 'AUDIT' });
    if (expired.length || open.length) log.warn({ expired: expired.length, voided: open.length }, 'expired card orders / voided open charges');
    return { expired: expired.length, voided: open.length };
  }
}
