export * from './money/apportion';
export * from './money/pricing';
export * from './money/refund';
export * from './points/lots';
export * from './orders/order-state';
export * from './search/search-tokens';
export * from './catalog/popularity';
