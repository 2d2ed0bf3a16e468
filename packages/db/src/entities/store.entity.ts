import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from './transformers';

@Entity({ name: 'stores' })
@Index('idx_stores_seller', ['sellerId', 'id'])
export class StoreEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id: number;

  @Column({ type: 'bigint', unsigned: true, name: 'seller_id', transformer: bigintNumber })
  sellerId: number;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @CreateDateColumn({ type: 'datetime', precision: 3, name: 'created_at' })
  createdAt: Date;

  @Column({ type: 'enum', enum: ['OPEN', 'CLOSED'], default: 'OPEN' })
  status: 'OPEN' | 'CLOSED';

  /** Weekly hours (WeeklyHours of packages/domain); null = the defaults. */
  @Column({ type: 'json', name: 'opening_hours', nullable: true })
  openingHours: Record<string, { open: string; close: string }[]> | null;

  @Column({ type: 'varchar', length: 64, name: 'time_zone', default: 'Asia/Seoul' })
  timeZone: string;

  @Column({ type: 'smallint', unsigned: true, name: 'pickup_lead_minutes', default: 30 })
  pickupLeadMinutes: number;

  @Column({ type: 'datetime', precision: 3, name: 'closed_at', nullable: true })
  closedAt: Date | null;
}
