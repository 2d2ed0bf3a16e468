import { Initial1763900000000 } from './1763900000000-initial';
import { Payments1763900100000 } from './1763900100000-payments';
import { CartAndQuestions1763900300000 } from './1763900300000-cart-and-questions';
import { ProductViews1763900400000 } from './1763900400000-product-views';
import { ProductSearch1763900500000 } from './1763900500000-product-search';
import { ProductListIndexes1763900550000 } from './1763900550000-product-list-indexes';
import { MoneyCore1764000000000 } from './1764000000000-money-core';
import { Refunds1764100000000 } from './1764100000000-refunds';
import { Chat1764200000000 } from './1764200000000-chat';
import { Fulfillment1764200100000 } from './1764200100000-fulfillment';
import { Subscriptions1764200200000 } from './1764200200000-subscriptions';
import { BillingKeys1764200300000 } from './1764200300000-billing-keys';
import { WaitingRoom1764300000000 } from './1764300000000-waiting-room';
import { ProductFanouts1764400000000 } from './1764400000000-product-fanouts';

/** Every migration, in order. Never edit one that has landed: add a new one. */
export const MIGRATIONS = [
  Initial1763900000000,
  Payments1763900100000,
  CartAndQuestions1763900300000,
  ProductViews1763900400000,
  ProductSearch1763900500000,
  ProductListIndexes1763900550000,
  MoneyCore1764000000000,
  Refunds1764100000000,
  Chat1764200000000,
  Fulfillment1764200100000,
  Subscriptions1764200200000,
  BillingKeys1764200300000,
  WaitingRoom1764300000000,
  ProductFanouts1764400000000,
];
