import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { ProductStatus } from '@bazaar/contracts';
import { bigintNumber } from './transformers';

@Entity({ name: 'products' })
@Index('idx_products_store', ['storeId', 'id'])
export class ProductEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id: number;

  @Column({ type: 'bigint', unsigned: true, name: 'store_id', transformer: bigintNumber })
  storeId: number;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Column({ type: 'text' })
  description: string;

  /** Name and description as search tokens (searchIndexTokens), under a FULLTEXT index; written with them, never read back. */
  @Column({ type: 'mediumtext', name: 'search_tokens', collation: 'utf8mb4_bin', select: false })
  searchTokens?: string;

  /** Unit price in won. */
  @Column({ type: 'bigint', unsigned: true, transformer: bigintNumber })
  price: number;

  @Column({ type: 'int', unsigned: true })
  stock: number;

  /** Views flushed from Redis by the scheduler; the shown count adds the ones not flushed yet. */
  @Column({ type: 'bigint', unsigned: true, name: 'view_count', transformer: bigintNumber, default: 0 })
  viewCount: number;

  @Column({ type: 'enum', enum: Object.values(ProductStatus), default: ProductStatus.ACTIVE })
  status: ProductStatus;

  @CreateDateColumn({ type: 'datetime', precision: 3, name: 'created_at' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'datetime', precision: 3, name: 'updated_at' })
  updatedAt: Date;
}
