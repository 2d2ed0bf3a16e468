import { OrderItemEntity } from './order-item.entity';
import { OrderEntity } from './order.entity';
import { ProductEntity } from './product.entity';
import { StoreEntity } from './store.entity';
import { UserEntity } from './user.entity';
import { WalletAccountEntity } from './wallet-account.entity';
import { WalletEntryEntity } from './wallet-entry.entity';

export { OrderItemEntity, OrderEntity, ProductEntity, StoreEntity, UserEntity, WalletAccountEntity, WalletEntryEntity };

export const ENTITIES = [UserEntity, StoreEntity, ProductEntity, OrderEntity, OrderItemEntity, WalletAccountEntity, WalletEntryEntity];
