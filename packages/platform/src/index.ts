export * from './config';
export * from './logger';
export * from './ids';
export * from './metrics';
export * from './redis';
export * from './keys';
export * from './health-server';
export * from './redis-lock';
