/**
 * Security headers on every answer of the api's public port. The api answers JSON (and Server-Sent Events) to API
 * clients, so these are what a JSON API should send: never sniff a content type, never be framed, no referrer,
 * nothing loaded or run from an answer (CSP `default-src 'none'`), HTTPS remembered once a proxy serves it. Bull
 * Board's pages (/admin/queues) run their own scripts and styles: they get all but the CSP.
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

/** Bull Board's pages: the same without the CSP (they load their own scripts and styles). */
export const PAGE_SECURITY_HEADERS = Object.fromEntries(Object.entries(SECURITY_HEADERS).filter(([name]) => name !== 'content-security-policy'));
