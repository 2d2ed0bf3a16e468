/**
 * The runtime entry `@bazaar/api/hosting`: what it takes to host the api in another process (a test harness, the
 * seed script): its dependencies, the server and its metrics port, and the services those scripts use directly
 * (sessions issued without a sign-up, password hashes, the pricing snapshot a seeded product needs, the admission
 * token keys, the admin account). Scripts and tests import these from here, never from the api's src/ files.
 */
export { createDeps, type Deps } from './deps';
/** The router itself, for tests that walk its procedures (test/ownership); clients still import only the AppRouter type. */
export { appRouter } from './router';
export { buildServer, startMetricsServer } from './server';
export { SessionService } from './services/session.service';
export { PasswordService } from './services/password.service';
export { ProductPricingCache } from './services/product-pricing.cache';
export { AdmissionTokens } from './services/admission-tokens';
export { ensureAdminAccount } from './services/admin-account';
export { CatalogService, type CatalogCopies } from './services/catalog.service';
export { ADMIN_COOKIE } from './http/admin-console';
