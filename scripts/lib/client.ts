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
  const link = opts.batch === false ? httpLink : httpBatchLink;
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
        false: link({ url, headers }),
      }),
    ],
  });
}

export type BazaarClient = ReturnType<typeof bazaarClient>;
