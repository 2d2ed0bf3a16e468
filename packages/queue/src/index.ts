export * from './payloads';
export * from './queues';
export * from './accepted-orders.store';
