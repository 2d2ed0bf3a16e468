/**
 * The entry `@bazaar/scheduler`: its jobs, for tests that drive one step at a time (the process itself is main.ts).
 */
export { AdmitWaitingRoomsLoop } from './jobs/admit-waiting-rooms.loop';
export { PlaceSubscriptionsJob } from './jobs/place-subscriptions.job';
export { ReconcileBillingKeysJob } from './jobs/reconcile-billing-keys.job';
export { RepairCatalogJob } from './jobs/repair-catalog.job';
