import { createTRPCClient, httpBatchLink, httpLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { AppRouter } from '@bazaar/api';

/**
 * A typed Bazaar client: only the router's type crosses from the API.
 * Queries and mutations go over HTTP (batched unless batch: false),
 * subscriptions (orders.onStatus) over Server-Sent Events.
 */
export function bazaarClient(baseUrl: string, opts: { token?: string; requestId?: string; batch?: boolean } = {}) {
  const url = `${baseUrl.replace(/\/$/, '')}/trpc`;
  const headers = (): Record<string, string> => ({
    ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}),
  });
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          // Node has no EventSource of its own; this one lets the bearer token ride on the request.
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input: string | URL | Request, init?: RequestInit) =>
              fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers() } }),
          }),
        }),
        // A batch of queries travels in one GET's URL: split it before servers refuse the URL (431 past ~16 KB).
        false: opts.batch === false ? httpLink({ url, headers }) : httpBatchLink({ url, headers, maxURLLength: 2083 }),
      }),
    ],
  });
}

export type BazaarClient = ReturnType<typeof bazaarClient>;
