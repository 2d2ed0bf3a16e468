import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from './transformers';

@Entity({ name: 'order_items' })
@Index('idx_order_items_order', ['orderId', 'lineNo'], { unique: true })
@Index('idx_order_items_product', ['productId'])
export class OrderItemEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id: number;

  @Column({ type: 'char', length: 26, name: 'order_id', charset: 'ascii', collation: 'ascii_bin' })
  orderId: string;

  /** Position of the line in the order as placed (apportioning ties follow it). */
  @Column({ type: 'smallint', unsigned: true, name: 'line_no' })
  lineNo: number;

  @Column({ type: 'bigint', unsigned: true, name: 'product_id', transformer: bigintNumber })
  productId: number;

  @Column({ type: 'bigint', unsigned: true, name: 'store_id', transformer: bigintNumber })
  storeId: number;

  @Column({ type: 'varchar', length: 200, name: 'product_name' })
  productName: string;

  @Column({ type: 'bigint', unsigned: true, name: 'unit_price', transformer: bigintNumber })
  unitPrice: number;

  @Column({ type: 'int', unsigned: true })
  quantity: number;

  @Column({ type: 'bigint', unsigned: true, transformer: bigintNumber })
  subtotal: number;

  @Column({ type: 'bigint', unsigned: true, transformer: bigintNumber })
  discount: number;

  @Column({ type: 'bigint', unsigned: true, transformer: bigintNumber })
  points: number;

  @Column({ type: 'bigint', unsigned: true, transformer: bigintNumber })
  cash: number;

  @Column({ type: 'bigint', unsigned: true, transformer: bigintNumber })
  earned: number;

  @Column({ type: 'int', unsigned: true, name: 'refunded_quantity', default: 0 })
  refundedQuantity: number;
}
