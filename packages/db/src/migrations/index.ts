import { Initial1763900000000 } from './1763900000000-initial';
import { Payments1763900100000 } from './1763900100000-payments';

/** Every migration, in order. Never edit one that has landed: add a new one. */
export const MIGRATIONS = [Initial1763900000000, Payments1763900100000];
