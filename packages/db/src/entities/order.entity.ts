import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import {
  FAILURE_REASONS,
  ORDER_STATUSES,
  PAYMENT_METHODS,
  type FailureReason,
  type Fulfillment,
  type OrderStatus,
  type PaymentMethod,
} from '@bazaar/contracts';
import { bigintNumber } from './transformers';

/** An order as settled by a worker. Accepted-but-unsettled orders live in Redis. */
@Entity({ name: 'orders' })
@Index('idx_orders_user', ['userId', 'id'])
@Index('idx_orders_status', ['status', 'acceptedAt'])
export class OrderEntity {
  /** ULID minted at acceptance; also the BullMQ job id. */
  @PrimaryColumn({ type: 'char', length: 26, charset: 'ascii', collation: 'ascii_bin' })
  id: string;

  @Column({ type: 'bigint', unsigned: true, name: 'user_id', transformer: bigintNumber })
  userId: number;

  @Column({ type: 'enum', enum: ORDER_STATUSES })
  status: OrderStatus;

  @Column({ type: 'enum', enum: FAILURE_REASONS, name: 'failure_reason', nullable: true })
  failureReason: FailureReason | null;

  @Column({ type: 'enum', enum: PAYMENT_METHODS, name: 'payment_method' })
  paymentMethod: PaymentMethod;

  @Column({ type: 'json' })
  fulfillment: Fulfillment;

  @Column({ type: 'bigint', unsigned: true, name: 'items_total', transformer: bigintNumber })
  itemsTotal: number;

  @Column({ type: 'bigint', unsigned: true, name: 'discount_total', transformer: bigintNumber })
  discountTotal: number;

  @Column({ type: 'bigint', unsigned: true, name: 'points_used', transformer: bigintNumber })
  pointsUsed: number;

  @Column({ type: 'bigint', unsigned: true, name: 'cash_paid', transformer: bigintNumber })
  cashPaid: number;

  @Column({ type: 'bigint', unsigned: true, name: 'points_earned', transformer: bigintNumber })
  pointsEarned: number;

  @Column({ type: 'varchar', length: 64, name: 'idempotency_key', charset: 'ascii', collation: 'ascii_bin' })
  idempotencyKey: string;

  @Column({ type: 'varchar', length: 64, name: 'request_id' })
  requestId: string;

  @Column({ type: 'datetime', precision: 3, name: 'accepted_at' })
  acceptedAt: Date;

  @Column({ type: 'datetime', precision: 3, name: 'settled_at', nullable: true })
  settledAt: Date | null;

  @Column({ type: 'datetime', precision: 3, name: 'updated_at' })
  updatedAt: Date;
}
