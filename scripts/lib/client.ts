import { createTRPCClient, httpBatchLink, httpLink } from '@trpc/client';
import type { AppRouter } from '@bazaar/api';

/** A typed Bazaar client: only the router's type crosses from the API. */
export function bazaarClient(baseUrl: string, opts: { token?: string; requestId?: string; batch?: boolean } = {}) {
  const link = opts.batch === false ? httpLink : httpBatchLink;
  return createTRPCClient<AppRouter>({
    links: [
      link({
        url: `${baseUrl.replace(/\/$/, '')}/trpc`,
        headers: () => ({
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}),
        }),
      }),
    ],
  });
}

export type BazaarClient = ReturnType<typeof bazaarClient>;
