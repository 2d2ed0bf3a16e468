export * from './enums';
export * from './common';
export * from './auth.schema';
export * from './wallet.schema';
export * from './catalog.schema';
export * from './orders.schema';
export * from './cart.schema';
export * from './questions.schema';
