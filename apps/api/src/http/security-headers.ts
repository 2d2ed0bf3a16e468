/**
 * Security headers on every answer of the api's public port. The api answers JSON (and Server-Sent Events) to API
 * clients, so these are what a JSON API should send: never sniff a content type, never be framed, no referrer,
 * nothing loaded or run from an answer (CSP `default-src 'none'`), HTTPS remembered once a proxy serves it. The admin
 * console's pages (/admin/…) differ: PAGE_SECURITY_HEADERS.
 *
 * A constant set rather than @fastify/helmet: the fast paths (products.get/list, orders.place, waitingRoom.status)
 * write their answers straight to the socket, outside Fastify's reply, and must send the same headers; one object
 * sent by both paths keeps them equal (apps/api/test/security-headers.int.spec.ts checks every kind of answer).
 */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
} as const;

/**
 * The admin console's pages (/admin/…, Bull Board and its sign-in): the same without the CSP (Bull Board loads its own
 * scripts and styles; the sign-in page sends a CSP of its own), and a referrer policy of `same-origin`: under
 * `no-referrer` a browser sends `Origin: null` with the page's own form posts and fetches, and the console's
 * cross-site check (admin-console.ts) could no longer tell them from another site's.
 */
export const PAGE_SECURITY_HEADERS = {
  ...Object.fromEntries(Object.entries(SECURITY_HEADERS).filter(([name]) => name !== 'content-security-policy')),
  'referrer-policy': 'same-origin',
};
