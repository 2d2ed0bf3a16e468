import type { DataSource } from 'typeorm';
import { BillingKeysRepository, OrderSettlementRepository, OrdersRepository, PointsRepository, RefundsRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import type { SoldOutGate } from '@bazaar/queue';
import type { PaymentGatewayClient } from '../gateway/payment-gateway.client';
import { ApplyOrderWorkflow, systemClock, type Clock } from './apply-order/apply-order.workflow';
import { CardPaymentWorkflow } from './apply-order/card-payment.workflow';
import { OrderBatcher, type OrderBatcherOptions } from './apply-order/order-batcher';
import { OrderTransaction } from './apply-order/order-transaction';
import { CancelOrderWorkflow } from './cancel-order/cancel-order.workflow';
import { RefundWorkflow } from './refund/refund.workflow';

export interface OrderWorkflowDeps {
  /** The primary, with multipleStatements (the order transaction batches its statements). */
  ds: DataSource;
  gateway: PaymentGatewayClient;
  gate: SoldOutGate;
  log: Logger;
  metrics?: Metrics;
  clock?: Clock;
  /** Group commit of BALANCE orders (WORKER_BATCH_SIZE, WORKER_BATCH_WAIT_MS); left out, one order per transaction. */
  batch?: OrderBatcherOptions;
}

/** The order workflows of one worker process, wired once (main.ts and the worker's specs build them the same way). */
export function createOrderWorkflows(d: OrderWorkflowDeps) {
  const clock = d.clock ?? systemClock;
  const settlement = new OrderSettlementRepository();
  const points = new PointsRepository(d.ds);
  const orders = new OrdersRepository(d.ds);
  const tx = new OrderTransaction(d.ds, d.metrics);
  const card = new CardPaymentWorkflow(
    d.ds,
    tx,
    { settlement, points, orders, billingKeys: new BillingKeysRepository(d.ds) },
    d.gateway,
    d.log,
    clock,
    d.metrics,
  );
  const refundRows = new RefundsRepository(d.ds);
  const refunds = new RefundWorkflow(d.ds, { refunds: refundRows, settlement, points }, d.gateway, d.log, clock, d.metrics);
  return {
    tx,
    card,
    orders,
    points,
    settlement,
    refundRows,
    refunds,
    apply: new ApplyOrderWorkflow(tx, orders, card, clock, d.metrics, new OrderBatcher(tx, d.batch ?? { maxSize: 1, maxWaitMs: 0 }, d.metrics)),
    cancel: new CancelOrderWorkflow(d.ds, settlement, points, refundRows, refunds, d.gateway, d.log, clock),
  };
}
