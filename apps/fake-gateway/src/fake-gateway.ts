import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { type FastifyReply } from 'fastify';
import { z } from 'zod';
import { createLogger, type Logger } from '@bazaar/platform';
import { BEHAVIORS, BILLING_FAULTS, CANCEL_FAULTS, FakeGatewayState, errors, type Answer, type Outcome } from './gateway-state';

/**
 * A test double of the card payment gateway, shaped on Toss Payments' core API:
 *
 *   POST /v1/payments/confirm              {paymentKey, orderId, amount} → Payment
 *   POST /v1/payments/:paymentKey/cancel   {cancelReason, cancelAmount?, refundableAmount?} + Idempotency-Key → Payment
 *   GET  /v1/payments/:paymentKey          → Payment
 *   GET  /v1/payments/orders/:orderId      → Payment
 *
 * and the billing (automatic payment) API:
 *
 *   POST   /v1/billing/authorizations/issue  {authKey, customerKey} → Billing {mId, customerKey, authenticatedAt,
 *                                            method, billingKey, card{issuerCode, acquirerCode, number, cardType, ownerType}}
 *   POST   /v1/billing/:billingKey           {customerKey, amount, orderId, orderName, customerEmail?, customerName?,
 *                                            taxFreeAmount?} + Idempotency-Key → Payment (type BILLING, status DONE)
 *   DELETE /v1/billing/:billingKey           → 200, no body
 *
 * The fake has no card-registration window: an authKey of the test shape `test_auth_<1 to 100 of
 * [A-Za-z0-9_-]>` stands for a card the customer registered (the same authKey, the same card; see
 * TEST_AUTH_KEY). Issuing it again with the same customerKey answers the same billing key; with another,
 * or any other authKey, 400 INVALID_BILL_KEY_REQUEST. A charge is refused for an unknown key (400
 * INVALID_BILL_KEY_REQUEST), a deleted one (400 ALREADY_REMOVED_BILLING_KEY), a customerKey other than the
 * key's (400 NOT_MATCHES_CUSTOMER_KEY) and an orderId already charged (400 DUPLICATED_ORDER_ID: an orderId
 * is charged once, whatever the key); with an Idempotency-Key its first final answer is replayed, as for a
 * cancel, so a retry of a charge whose answer was lost gets the same Payment and charges nothing.
 *
 * authenticated like Toss with `Authorization: Basic base64(secretKey + ':')`,
 * errors as `{code, message}`. A cancel without cancelAmount cancels the whole
 * balance; one above the balance is 400 NOT_CANCELABLE_AMOUNT; refundableAmount,
 * when given, must equal the balance (400 NOT_MATCHES_REFUNDABLE_AMOUNT
 * otherwise, nothing cancelled). With an Idempotency-Key the first final answer
 * (anything but a 5xx) is stored and replayed to every later request with that
 * key, cancelling nothing more.
 *
 * NOT part of Toss's API — test controls, without auth, for tests and local runs:
 *
 *   POST /__test/payment-keys     {amount, behavior?, times?, delayMs?} → {paymentKey}
 *        mints the key a checkout page would hand the browser, bound to that amount;
 *        its confirm behaves as `behavior` says: 'ok' (default); 'decline' (400
 *        REJECT_CARD_PAYMENT, nothing charged); 'fail5xx' (500 the first `times`
 *        confirms, nothing charged, then ok); 'slow' (charged at once, answered
 *        after `delayMs`); 'lost' (charged, then the connection is dropped unanswered).
 *   POST /__test/cancel-faults    {paymentKey, behavior, times?, delayMs?} → {paymentKey, fault}
 *        a fault switch for the next `times` (default 1) cancels of that paymentKey:
 *        'fail5xx' (500 FAILED_INTERNAL_SYSTEM_PROCESSING, nothing cancelled; checked
 *        before the Idempotency-Key replay, a 5xx is never stored); 'slow' (cancelled at
 *        once, answered after `delayMs`, default 1000); 'lost' (cancelled, then the
 *        connection is dropped unanswered); 'decline' (400 NOT_CANCELABLE_PAYMENT,
 *        nothing cancelled, stored and replayed like any final answer); 'clear' (removes
 *        the switch; fault: null). A 'slow' or 'lost' cancel is stored as its key's
 *        answer, so a retry with the same Idempotency-Key gets it at once; a replay
 *        never uses up a 'slow', 'lost' or 'decline'. Setting a switch replaces the
 *        key's previous one.
 *   POST /__test/billing-faults   {billingKey, behavior, times?, delayMs?} → {billingKey, fault}
 *        the same switches for the next `times` charges of a billing key: 'decline' (400
 *        REJECT_CARD_PAYMENT, nothing charged: `times: N` declines the next N charges), 'fail5xx',
 *        'slow', 'lost', 'clear', checked where the cancel ones are.
 *   GET  /__test/ledger                    every payment, charge, applied cancel (cancels), confirm
 *                                          attempt (attempts), cancel attempt (cancelAttempts), billing
 *                                          key issued (billingKeys) and billing charge attempt (billingAttempts)
 *   GET  /__test/ledger/orders/:orderId    the same, for one order
 *   GET  /__test/requests                  how many API requests arrived, by route
 *   POST /__test/reset                     forget everything, fault switches too
 *
 * plus GET /healthz. State is in memory.
 */
export interface FakeGatewayOptions {
  /** 0 (any free port) when absent. */
  port?: number;
  host?: string;
  secretKey: string;
  /** Silent when absent. */
  logger?: Logger;
}

export interface FakeGateway {
  /** e.g. http://127.0.0.1:40123 — no trailing slash. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const orderId = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/, 'orderId: 6 to 64 letters, digits, - or _');
const amount = z.number().int().positive();
const confirmBody = z.object({ paymentKey: z.string().min(1).max(200), orderId, amount });
const cancelBody = z.object({ cancelReason: z.string().min(1).max(200), cancelAmount: amount.optional(), refundableAmount: amount.optional() });
const mintBody = z.object({
  amount,
  behavior: z.enum(BEHAVIORS).default('ok'),
  times: z.number().int().min(1).max(1000).optional(),
  delayMs: z.number().int().min(0).max(120_000).optional(),
});
const cancelFaultBody = z.object({
  paymentKey: z.string().min(1).max(200),
  behavior: z.enum(CANCEL_FAULTS),
  times: z.number().int().min(1).max(1000).optional(),
  delayMs: z.number().int().min(0).max(120_000).optional(),
});
const idempotencyKey = z.string().min(1).max(300);
/** Toss: customerKey of 2 to 300 letters, digits and - _ = . @ */
const customerKey = z.string().regex(/^[A-Za-z0-9\-_=.@]{2,300}$/, 'customerKey: 2 to 300 letters, digits or - _ = . @');
const issueBody = z.object({ authKey: z.string().min(1).max(300), customerKey });
const billingChargeBody = z.object({
  customerKey,
  amount,
  orderId,
  orderName: z.string().min(1).max(100),
  customerEmail: z.string().max(100).optional(),
  customerName: z.string().max(100).optional(),
  taxFreeAmount: z.number().int().min(0).optional(),
});
const billingFaultBody = z.object({
  billingKey: z.string().min(1).max(200),
  behavior: z.enum(BILLING_FAULTS),
  times: z.number().int().min(1).max(1000).optional(),
  delayMs: z.number().int().min(0).max(120_000).optional(),
});

/** The Idempotency-Key header: null when absent, false when malformed. */
function headerKey(header: string | string[] | undefined): string | null | false {
  if (header === undefined) return null;
  const parsed = idempotencyKey.safeParse(header);
  return parsed.success ? parsed.data : false;
}

const invalid = (e: z.ZodError) => errors.invalidRequest(e.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
const send = (reply: FastifyReply, a: Answer) => reply.code(a.status).send(a.body);

export async function startFakeGateway(opts: FakeGatewayOptions): Promise<FakeGateway> {
  const state = new FakeGatewayState();
  const expectedAuth = `Basic ${Buffer.from(`${opts.secretKey}:`).toString('base64')}`;
  const requests = new Map<string, number>();
  // Aborted on close, so 'slow' answers don't hold the server open.
  const closing = new AbortController();

  const app = Fastify({
    loggerInstance: opts.logger ?? createLogger('fake-gateway', 'silent'),
    forceCloseConnections: true,
  });

  /** Answers now, answers after the delay ('slow'), or drops the connection ('lost': what was booked stands, the caller never hears of it). */
  const deliver = async (socket: Socket, reply: FastifyReply, outcome: Outcome): Promise<FastifyReply> => {
    if (outcome.kind === 'lost') {
      reply.hijack();
      socket.destroy();
      return reply;
    }
    if (outcome.kind === 'slow') await sleep(outcome.delayMs, undefined, { signal: closing.signal }).catch(() => undefined);
    return send(reply, outcome.answer);
  };

  app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'fake gateway error');
    return send(reply, status < 500 ? errors.invalidRequest(error.message) : errors.internal());
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` }));

  app.get('/healthz', async () => ({ status: 'ok' }));

  await app.register(async (api) => {
    api.addHook('onRequest', async (request, reply) => {
      const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
      requests.set(route, (requests.get(route) ?? 0) + 1);
      if (request.headers.authorization !== expectedAuth) {
        return reply.code(401).send({ code: 'UNAUTHORIZED_KEY', message: '인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.' });
      }
    });

    api.post('/v1/payments/confirm', async (request, reply) => {
      const body = confirmBody.safeParse(request.body);
      if (!body.success) return send(reply, invalid(body.error));
      return deliver(request.raw.socket, reply, state.confirm(body.data));
    });

    api.post<{ Params: { paymentKey: string } }>('/v1/payments/:paymentKey/cancel', async (request, reply) => {
      const body = cancelBody.safeParse(request.body);
      if (!body.success) return send(reply, invalid(body.error));
      const key = headerKey(request.headers['idempotency-key']);
      if (key === false) return send(reply, errors.invalidRequest('Idempotency-Key: 1 to 300 characters'));
      return deliver(request.raw.socket, reply, state.cancel(request.params.paymentKey, body.data, key));
    });

    api.post('/v1/billing/authorizations/issue', async (request, reply) => {
      const body = issueBody.safeParse(request.body);
      if (!body.success) return send(reply, invalid(body.error));
      return send(reply, state.issueBilling(body.data));
    });

    api.post<{ Params: { billingKey: string } }>('/v1/billing/:billingKey', async (request, reply) => {
      const body = billingChargeBody.safeParse(request.body);
      if (!body.success) return send(reply, invalid(body.error));
      const key = headerKey(request.headers['idempotency-key']);
      if (key === false) return send(reply, errors.invalidRequest('Idempotency-Key: 1 to 300 characters'));
      return deliver(request.raw.socket, reply, state.chargeBilling(request.params.billingKey, body.data, key));
    });

    api.delete<{ Params: { billingKey: string } }>('/v1/billing/:billingKey', async (request, reply) =>
      send(reply, state.deleteBilling(request.params.billingKey)),
    );

    api.get<{ Params: { orderId: string } }>('/v1/payments/orders/:orderId', async (request, reply) => send(reply, state.getByOrderId(request.params.orderId)));
    api.get<{ Params: { paymentKey: string } }>('/v1/payments/:paymentKey', async (request, reply) => send(reply, state.get(request.params.paymentKey)));
  });

  await app.register(
    async (test) => {
      test.post('/payment-keys', async (request, reply) => {
        const body = mintBody.safeParse(request.body);
        if (!body.success) return send(reply, invalid(body.error));
        return { paymentKey: state.mint(body.data) };
      });
      test.post('/cancel-faults', async (request, reply) => {
        const body = cancelFaultBody.safeParse(request.body);
        if (!body.success) return send(reply, invalid(body.error));
        return { paymentKey: body.data.paymentKey, fault: state.setCancelFault(body.data) };
      });
      test.post('/billing-faults', async (request, reply) => {
        const body = billingFaultBody.safeParse(request.body);
        if (!body.success) return send(reply, invalid(body.error));
        return { billingKey: body.data.billingKey, fault: state.setBillingFault(body.data) };
      });
      test.get('/ledger', async () => state.ledger());
      test.get<{ Params: { orderId: string } }>('/ledger/orders/:orderId', async (request) => state.ledger(request.params.orderId));
      test.get('/requests', async () => {
        const byRoute = Object.fromEntries(requests);
        return { total: [...requests.values()].reduce((a, b) => a + b, 0), byRoute };
      });
      test.post('/reset', async () => {
        state.reset();
        requests.clear();
        return { ok: true };
      });
    },
    { prefix: '/__test' },
  );

  await app.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const host = opts.host === undefined || opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: async () => {
      closing.abort();
      await app.close();
    },
  };
}
