export * from './payloads';
export * from './queues';
export * from './accepted-orders.store';
export * from './sold-out-gate';
export * from './order-outcome';
export * from './product-views.store';
export * from './popular-products.store';
export * from './coupon-store';
