import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './transformers';

/** Cached balance; changed only in the transaction that writes its ledger row. */
@Entity({ name: 'wallet_accounts' })
export class WalletAccountEntity {
  @PrimaryColumn({ type: 'bigint', unsigned: true, name: 'user_id', transformer: bigintNumber })
  userId: number;

  @Column({ type: 'bigint', unsigned: true, transformer: bigintNumber })
  balance: number;

  @Column({ type: 'datetime', precision: 3, name: 'updated_at' })
  updatedAt: Date;
}
