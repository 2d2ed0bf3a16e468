import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { WalletEntryKind } from '@bazaar/contracts';
import { bigintNumber } from './transformers';

/** Append-only wallet ledger. (user, kind, ref) is unique: one effect per charge key or order. */
@Entity({ name: 'wallet_entries' })
@Index('uq_wallet_entries_ref', ['userId', 'kind', 'ref'], { unique: true })
@Index('idx_wallet_entries_user', ['userId', 'id'])
export class WalletEntryEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id: number;

  @Column({ type: 'bigint', unsigned: true, name: 'user_id', transformer: bigintNumber })
  userId: number;

  @Column({ type: 'enum', enum: Object.values(WalletEntryKind) })
  kind: WalletEntryKind;

  /** Signed won: + credits the wallet, - debits it. */
  @Column({ type: 'bigint', transformer: bigintNumber })
  amount: number;

  @Column({ type: 'bigint', unsigned: true, name: 'balance_after', transformer: bigintNumber })
  balanceAfter: number;

  /** The charge's idempotency key, or the order / refund id. */
  @Column({ type: 'varchar', length: 64, charset: 'ascii', collation: 'ascii_bin' })
  ref: string;

  @Column({ type: 'datetime', precision: 3, name: 'created_at' })
  createdAt: Date;
}
