/** The types-only entry of the API: clients `import type { AppRouter } from '@bazaar/api'`. */
export type { AppRouter } from './router';
