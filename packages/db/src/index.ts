import 'reflect-metadata';

export * from './data-source';
export * from './entities';
export * from './migrations';
export * from './repositories/users.repository';
export * from './repositories/catalog.repository';
export * from './repositories/product-list.query';
export * from './repositories/wallet.repository';
export * from './repositories/orders.repository';
export * from './repositories/order-settlement.repository';
export * from './repositories/popular-products.repository';
export * from './repositories/cart.repository';
export * from './repositories/questions.repository';
export * from './repositories/view-counts.repository';
export * from './repositories/points.repository';
export * from './repositories/sql-batch';
export * from './repositories/coupons.repository';
export * from './repositories/refunds.repository';
