import { setTimeout as sleep } from 'node:timers/promises';
import CircuitBreaker from 'opossum';
import { z } from 'zod';

/**
 * The client for the card payment gateway (Toss Payments' API: confirm,
 * cancel, look-up by order, and billing: issue a billing key, charge it,
 * delete it). Every HTTP attempt runs through a circuit breaker, and every
 * answer is parsed before anyone sees it. The worker charges and cancels
 * with it; the api issues and deletes billing keys with it (the
 * `@bazaar/worker/gateway` entry).
 *
 * What each failure becomes, and whether it is retried:
 *
 * | what happened                                   | confirm, issueBillingKey  | chargeBillingKey, cancel,  |
 * |                                                 |                           | findByOrderId, delete      |
 * |-------------------------------------------------|---------------------------|----------------------------|
 * | 5xx, 429, PROVIDER_ERROR, connection refused    | retried, then Unavailable | retried, then Unavailable  |
 * | no answer in timeoutMs                          | GatewayTimeoutError, once | retried, then Timeout      |
 * | connection dropped after the request was sent   | GatewayTimeoutError, once | retried, then Timeout      |
 * | breaker open                                    | GatewayUnavailableError at once, nothing sent          |
 * | 4xx card refusal (REJECT_CARD_PAYMENT, …)       | PaymentDeclinedError (confirm and billing charge)      |
 * | 400 ALREADY_PROCESSED_PAYMENT                   | PaymentAlreadyProcessedError                            |
 * | 4xx cancel refusal (NOT_CANCELABLE_PAYMENT,     | —                         | GatewayRequestError with   |
 * |   NOT_CANCELABLE_AMOUNT, ALREADY_CANCELED_      |                           | the code, isCancelRefusal: |
 * |   PAYMENT, NOT_MATCHES_REFUNDABLE_AMOUNT)       |                           | nothing was cancelled      |
 * | other 4xx                                       | GatewayRequestError (findByOrderId: 404 → null;         |
 * |                                                 |   deleteBillingKey: ALREADY_REMOVED_BILLING_KEY → done) |
 *
 * Apart from the transient answers of the first row (429, PROVIDER_ERROR,
 * IDEMPOTENT_REQUEST_PROCESSING), no 4xx is retried. "Retried" means up to
 * `retries` more attempts with backoff; the last failure is thrown.
 *
 * A confirm whose answer was lost is never sent again: at a real gateway the
 * charge may have gone through, so GatewayTimeoutError tells the caller to
 * look the payment up (findByOrderId) before deciding. A confirm that got a
 * 5xx is sent again — Toss refuses a second charge of the same paymentKey
 * with ALREADY_PROCESSED_PAYMENT, which also means "look it up".
 * A billing charge carries an Idempotency-Key too (one per order), so it is
 * retried like a cancel: a charge whose answer was lost is sent again with
 * the same key and gets the first answer, charging nothing more.
 * Issuing a billing key retries only 5xx and connection refusals (a lost
 * answer throws GatewayTimeoutError: issue again with the same authKey).
 * cancel is safe to repeat because the Idempotency-Key makes the gateway
 * replay its first answer: a cancel whose answer timed out or was dropped is
 * sent again with the same key, and if the first one went through the retry
 * gets its result without cancelling anything more. A cancel that still has
 * no answer after the retries (GatewayTimeoutError) or met only 5xx
 * (GatewayUnavailableError) is unknown: repeat it later with the same key.
 * A cancel refusal (isCancelRefusal) is final: the gateway said no and
 * nothing was given back.
 *
 * Only gateway trouble (5xx, timeouts, network errors, malformed answers)
 * counts against the breaker; business answers (4xx) do not.
 */

// ---------------------------------------------------------------- errors

export abstract class GatewayError extends Error {
  /** The gateway's error code when it answered with one (e.g. REJECT_CARD_PAYMENT). */
  readonly code: string | null;
  /** HTTP status when the gateway answered. */
  readonly status: number | null;

  constructor(message: string, opts: { code?: string | null; status?: number | null; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code ?? null;
    this.status = opts.status ?? null;
  }
}

/** The card (or its issuer) refused the payment: a business outcome, never retried. */
export class PaymentDeclinedError extends GatewayError {
  declare readonly code: string;
  constructor(code: string, message: string, status: number) {
    super(message, { code, status });
  }
}

/** The paymentKey was already confirmed (400 ALREADY_PROCESSED_PAYMENT): look the payment up to see its state. */
export class PaymentAlreadyProcessedError extends GatewayError {}

/**
 * No answer: it did not come within timeoutMs, or the connection dropped after
 * the request was sent. The request may have been carried out — for a
 * confirm, the card may have been charged: look the payment up.
 */
export class GatewayTimeoutError extends GatewayError {}

export type UnavailableReason = 'server_error' | 'network' | 'breaker_open' | 'invalid_response';

/**
 * The gateway could not serve the request: 5xx after the retries, the
 * connection refused, the breaker open (nothing was sent), or an answer that
 * is not a Payment.
 */
export class GatewayUnavailableError extends GatewayError {
  readonly reason: UnavailableReason;
  constructor(message: string, reason: UnavailableReason, opts: { code?: string | null; status?: number | null; cause?: unknown } = {}) {
    super(message, opts);
    this.reason = reason;
  }
}

/** Any other 4xx: the request itself was refused (unknown paymentKey, wrong amount, bad key, amount not cancelable, …). */
export class GatewayRequestError extends GatewayError {}

/**
 * Toss's answers to a cancel that mean "no, and nothing was cancelled": the
 * payment cannot be cancelled, the amount is above what is left, it is
 * already fully cancelled, or refundableAmount is not what is left.
 */
export const CANCEL_REFUSAL_CODES = ['NOT_CANCELABLE_PAYMENT', 'NOT_CANCELABLE_AMOUNT', 'NOT_MATCHES_REFUNDABLE_AMOUNT', 'ALREADY_CANCELED_PAYMENT'] as const;
export type CancelRefusalCode = (typeof CANCEL_REFUSAL_CODES)[number];
const cancelRefusalCodes: ReadonlySet<string> = new Set(CANCEL_REFUSAL_CODES);

/**
 * True when a cancel failed because the gateway refused it (one of
 * CANCEL_REFUSAL_CODES): a final answer, nothing was refunded. Anything else a
 * cancel throws (timeout, 5xx, breaker open, network) leaves the outcome
 * unknown: retry later with the same Idempotency-Key.
 */
export function isCancelRefusal(err: unknown): err is GatewayRequestError & { readonly code: CancelRefusalCode } {
  return err instanceof GatewayRequestError && err.code !== null && cancelRefusalCodes.has(err.code);
}

// ---------------------------------------------------------------- the Payment object

const cancelSchema = z.object({
  cancelAmount: z.number(),
  cancelReason: z.string(),
  canceledAt: z.string(),
  transactionKey: z.string(),
});

const paymentSchema = z.object({
  paymentKey: z.string().min(1),
  orderId: z.string().min(1),
  status: z.enum(['READY', 'IN_PROGRESS', 'WAITING_FOR_DEPOSIT', 'DONE', 'CANCELED', 'PARTIAL_CANCELED', 'ABORTED', 'EXPIRED']),
  method: z.string().nullish(),
  totalAmount: z.number().int(),
  balanceAmount: z.number().int(),
  approvedAt: z.string().nullish(),
  // Toss sends null until the first cancel.
  cancels: z.array(cancelSchema).nullish(),
});

export type GatewayPaymentStatus = z.infer<typeof paymentSchema>['status'];

/** One cancel of a payment, as the gateway lists it in cancels[]. */
export interface GatewayPaymentCancel {
  cancelAmount: number;
  cancelReason: string;
  canceledAt: string;
  transactionKey: string;
}

/** A payment as the gateway knows it (Toss's Payment object, the fields we use). Amounts in won. */
export interface GatewayPayment {
  paymentKey: string;
  orderId: string;
  status: GatewayPaymentStatus;
  method: string | null;
  totalAmount: number;
  /** What is left to cancel. */
  balanceAmount: number;
  approvedAt: string | null;
  cancels: GatewayPaymentCancel[];
}

/**
 * The payment's most recent cancel: the cancels[] entry with the latest
 * canceledAt (on a tie, the later in the array), or null when there is none.
 * After a successful (or replayed) cancel, that is the one just made.
 */
export function lastCancel(payment: GatewayPayment): GatewayPaymentCancel | null {
  let last: GatewayPaymentCancel | null = null;
  let lastAt = -Infinity;
  for (const c of payment.cancels) {
    const at = Date.parse(c.canceledAt);
    // An unparseable time never beats a parseable one, but still counts as a cancel.
    const t = Number.isNaN(at) ? -Infinity : at;
    if (last === null || t >= lastAt) {
      last = c;
      lastAt = t;
    }
  }
  return last;
}

const billingSchema = z.object({
  customerKey: z.string().min(1),
  billingKey: z.string().min(1),
  method: z.string().nullish(),
  authenticatedAt: z.string().nullish(),
  card: z
    .object({
      issuerCode: z.string().nullish(),
      acquirerCode: z.string().nullish(),
      number: z.string().nullish(),
      cardType: z.string().nullish(),
      ownerType: z.string().nullish(),
    })
    .nullish(),
});

/** The card behind a billing key, as the gateway describes it (number masked). */
export interface GatewayBillingCard {
  issuerCode: string | null;
  acquirerCode: string | null;
  number: string | null;
  cardType: string | null;
  ownerType: string | null;
}

/** A billing key the gateway issued (Toss's Billing object, the fields we use). */
export interface GatewayBilling {
  customerKey: string;
  billingKey: string;
  method: string | null;
  authenticatedAt: string | null;
  card: GatewayBillingCard | null;
}

const toPayment = (json: unknown): GatewayPayment | null => {
  const parsed = paymentSchema.safeParse(json);
  if (!parsed.success) return null;
  const p = parsed.data;
  return {
    paymentKey: p.paymentKey,
    orderId: p.orderId,
    status: p.status,
    method: p.method ?? null,
    totalAmount: p.totalAmount,
    balanceAmount: p.balanceAmount,
    approvedAt: p.approvedAt ?? null,
    cancels: p.cancels ?? [],
  };
};

const toBilling = (json: unknown): GatewayBilling | null => {
  const parsed = billingSchema.safeParse(json);
  if (!parsed.success) return null;
  const b = parsed.data;
  const c = b.card;
  return {
    customerKey: b.customerKey,
    billingKey: b.billingKey,
    method: b.method ?? null,
    authenticatedAt: b.authenticatedAt ?? null,
    card: c
      ? {
          issuerCode: c.issuerCode ?? null,
          acquirerCode: c.acquirerCode ?? null,
          number: c.number ?? null,
          cardType: c.cardType ?? null,
          ownerType: c.ownerType ?? null,
        }
      : null,
  };
};

/** A Payment answer (confirm, cancel, look-up, billing charge). */
const PAYMENT = { parse: toPayment, expect: 'a Payment' } as const;

const errorBodySchema = z.object({ code: z.string(), message: z.string().optional() });

/**
 * Toss's codes for a card or account the issuer refused (HTTP 400/403): the
 * customer must pay another way. Everything else in 4xx is our request's fault.
 */
export const CARD_DECLINE_CODES: ReadonlySet<string> = new Set([
  'REJECT_CARD_PAYMENT',
  'REJECT_CARD_COMPANY',
  'INVALID_REJECT_CARD',
  'INVALID_STOPPED_CARD',
  'INVALID_CARD_EXPIRATION',
  'INVALID_CARD_NUMBER',
  'INVALID_CARD_LOST_OR_STOLEN',
  'INVALID_PASSWORD',
  'EXCEED_MAX_DAILY_PAYMENT_COUNT',
  'EXCEED_MAX_PAYMENT_AMOUNT',
  'EXCEED_MAX_AMOUNT',
  'EXCEED_MAX_CARD_INSTALLMENT_PLAN',
  'NOT_ALLOWED_POINT_USE',
  'NOT_AVAILABLE_PAYMENT',
  'FDS_ERROR',
  'REJECT_ACCOUNT_PAYMENT',
  'REJECT_TOSSPAY_INVALID_ACCOUNT',
  'EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT',
  'EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT',
]);

/** 4xx codes that mean "temporary, try again" rather than "refused". */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(['PROVIDER_ERROR', 'IDEMPOTENT_REQUEST_PROCESSING']);

/** Connection errors raised before the request left: nothing reached the gateway. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

// ---------------------------------------------------------------- client

export type BreakerState = 'closed' | 'open' | 'halfOpen';

export interface GatewayBreakerOptions {
  /** How long the breaker stays open before it lets one trial call through (half-open). Default 10 000 ms. */
  resetTimeoutMs?: number;
  /** Failure percentage within the rolling window above which it opens. Default 50. */
  errorThresholdPercentage?: number;
  /** Calls within the window before it may open at all. Default 5. */
  volumeThreshold?: number;
  /** The rolling window the percentage is taken over. Default 10 000 ms. */
  rollingWindowMs?: number;
}

export interface PaymentGatewayClientOptions {
  baseUrl: string;
  secretKey: string;
  /** Per HTTP attempt. Default 3000. */
  timeoutMs?: number;
  /** Extra attempts after a retryable failure (see the table above). Default 2. */
  retries?: number;
  /** First backoff; doubled per retry, with jitter (half to all of it). Default 200 ms. */
  backoffMs?: number;
  /** Cap on one backoff. Default 2000 ms. */
  maxBackoffMs?: number;
  breaker?: GatewayBreakerOptions;
  /** Called on every breaker transition (for a metric or a log line). */
  onBreakerStateChange?: (state: BreakerState) => void;
}

export interface ConfirmRequest {
  paymentKey: string;
  orderId: string;
  /** Won; must equal what the payment was started for. */
  amount: number;
}

export interface CancelRequest {
  cancelReason: string;
  /** Won; absent = cancel the whole remaining balance. */
  cancelAmount?: number;
  /**
   * Won; what we believe is left to cancel before this one. When given, the
   * gateway refuses (NOT_MATCHES_REFUNDABLE_AMOUNT, nothing cancelled) if its
   * balance differs.
   */
  refundableAmount?: number;
}

export interface BillingIssueRequest {
  /** What the card-registration window handed the customer's browser. */
  authKey: string;
  /** The shop's opaque id of the customer; the key is bound to it. */
  customerKey: string;
}

export interface BillingChargeRequest {
  /** The customerKey the billing key was issued to (the gateway refuses another: NOT_MATCHES_CUSTOMER_KEY). */
  customerKey: string;
  /** Won. */
  amount: number;
  /** Our order id: the gateway charges an orderId at most once. */
  orderId: string;
  /** What the customer's card statement shows, 1 to 100 characters. */
  orderName: string;
}

interface HttpCall<T> {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** The path as errors and logs name it (a billing key in a path stays out of messages). */
  label?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** The 2xx body as T, or null when it is not one. */
  parse: (json: unknown, text: string) => T | null;
  /** What the 2xx body should have been, for the error when it is not. */
  expect: string;
}

type Op = 'confirm' | 'cancel' | 'find' | 'issue' | 'charge' | 'delete';

/** What a billing charge's Idempotency-Key is: one per order, so every retry of the order's charge is the same request. */
export const billingChargeKey = (orderId: string) => `billing-${orderId}`;

/** A billing key as messages and logs show it: its first 6 characters. */
export const maskBillingKey = (key: string) => `${key.slice(0, 6)}…`;

/** The client every process builds from its config (PAYMENT_*), with its breaker's state changes reported if asked. */
export function gatewayClientFromConfig(
  config: { PAYMENT_GATEWAY_URL: string; PAYMENT_SECRET_KEY: string; PAYMENT_TIMEOUT_MS: number; PAYMENT_RETRIES: number; PAYMENT_BREAKER_RESET_MS: number },
  onBreakerStateChange?: PaymentGatewayClientOptions['onBreakerStateChange'],
): PaymentGatewayClient {
  return new PaymentGatewayClient({
    baseUrl: config.PAYMENT_GATEWAY_URL,
    secretKey: config.PAYMENT_SECRET_KEY,
    timeoutMs: config.PAYMENT_TIMEOUT_MS,
    retries: config.PAYMENT_RETRIES,
    breaker: { resetTimeoutMs: config.PAYMENT_BREAKER_RESET_MS },
    ...(onBreakerStateChange ? { onBreakerStateChange } : {}),
  });
}

export class PaymentGatewayClient {
  private readonly baseUrl: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly breaker: CircuitBreaker<[HttpCall<unknown>], unknown>;

  constructor(opts: PaymentGatewayClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${opts.secretKey}:`).toString('base64')}`;
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.retries = opts.retries ?? 2;
    this.backoffMs = opts.backoffMs ?? 200;
    this.maxBackoffMs = opts.maxBackoffMs ?? 2000;
    const b = opts.breaker ?? {};
    this.breaker = new CircuitBreaker((call: HttpCall<unknown>) => this.attempt(call), {
      name: 'payment-gateway',
      // Each attempt carries its own AbortSignal.timeout; the breaker must not race it.
      timeout: false,
      resetTimeout: b.resetTimeoutMs ?? 10_000,
      errorThresholdPercentage: b.errorThresholdPercentage ?? 50,
      volumeThreshold: b.volumeThreshold ?? 5,
      rollingCountTimeout: b.rollingWindowMs ?? 10_000,
      rollingCountBuckets: 10,
      // true = not a failure: the gateway answered, it just said no.
      errorFilter: (err: unknown) => !isGatewayTrouble(err),
    });
    const notify = opts.onBreakerStateChange;
    if (notify) {
      this.breaker.on('open', () => notify('open'));
      this.breaker.on('halfOpen', () => notify('halfOpen'));
      this.breaker.on('close', () => notify('closed'));
    }
  }

  /** Confirms (charges) a payment the customer authorised at checkout. */
  async confirm(req: ConfirmRequest): Promise<GatewayPayment> {
    return this.run('confirm', {
      method: 'POST',
      path: '/v1/payments/confirm',
      body: { paymentKey: req.paymentKey, orderId: req.orderId, amount: req.amount },
      ...PAYMENT,
    });
  }

  /**
   * Cancels all (cancelAmount absent) or part of a payment. The same
   * idempotencyKey always means the same cancellation: the gateway replays its
   * first answer instead of refunding twice. Throws GatewayRequestError for a
   * refusal (isCancelRefusal: nothing was cancelled), GatewayTimeoutError or
   * GatewayUnavailableError when the outcome is unknown after the retries.
   */
  async cancel(paymentKey: string, req: CancelRequest, idempotencyKey: string): Promise<GatewayPayment> {
    const body = {
      cancelReason: req.cancelReason,
      ...(req.cancelAmount === undefined ? {} : { cancelAmount: req.cancelAmount }),
      ...(req.refundableAmount === undefined ? {} : { refundableAmount: req.refundableAmount }),
    };
    return this.run('cancel', {
      method: 'POST',
      path: `/v1/payments/${encodeURIComponent(paymentKey)}/cancel`,
      body,
      headers: { 'Idempotency-Key': idempotencyKey },
      ...PAYMENT,
    });
  }

  /**
   * The payment made for an order, or null when the gateway says it has none
   * (NOT_FOUND_PAYMENT only: any other 404, say a wrong base URL, throws, so it
   * is never mistaken for "not charged").
   */
  async findByOrderId(orderId: string): Promise<GatewayPayment | null> {
    try {
      return await this.run('find', { method: 'GET', path: `/v1/payments/orders/${encodeURIComponent(orderId)}`, ...PAYMENT });
    } catch (err) {
      if (err instanceof GatewayRequestError && err.code === 'NOT_FOUND_PAYMENT') return null;
      throw err;
    }
  }

  /**
   * Exchanges the authKey of a card registration for a billing key bound to customerKey. Throws
   * GatewayRequestError for a refusal (an authKey the gateway does not accept: INVALID_BILL_KEY_REQUEST and
   * the like), GatewayTimeoutError when the answer was lost (issue again with the same authKey),
   * GatewayUnavailableError when the gateway cannot serve it.
   */
  async issueBillingKey(req: BillingIssueRequest): Promise<GatewayBilling> {
    return this.run('issue', {
      method: 'POST',
      path: '/v1/billing/authorizations/issue',
      body: { authKey: req.authKey, customerKey: req.customerKey },
      parse: toBilling,
      expect: 'a Billing object',
    });
  }

  /**
   * Charges a billing key (Toss's automatic payment): the Payment, as for a confirm. The Idempotency-Key is
   * the order's ({@link billingChargeKey}), so a retry of a charge whose answer was lost or late gets the
   * first answer and charges nothing more; a charge of an orderId already charged under another key is
   * refused (GatewayRequestError DUPLICATED_ORDER_ID: look it up). Throws PaymentDeclinedError for a card
   * refusal, GatewayRequestError for any other refusal (NOT_MATCHES_CUSTOMER_KEY, ALREADY_REMOVED_BILLING_KEY,
   * …), GatewayTimeoutError / GatewayUnavailableError when the outcome is unknown after the retries.
   */
  async chargeBillingKey(billingKey: string, req: BillingChargeRequest): Promise<GatewayPayment> {
    return this.run('charge', {
      method: 'POST',
      path: `/v1/billing/${encodeURIComponent(billingKey)}`,
      label: `/v1/billing/${maskBillingKey(billingKey)}`,
      body: { customerKey: req.customerKey, amount: req.amount, orderId: req.orderId, orderName: req.orderName },
      headers: { 'Idempotency-Key': billingChargeKey(req.orderId) },
      ...PAYMENT,
    });
  }

  /**
   * Deletes a billing key at the gateway: it charges nothing more. A key already deleted
   * (ALREADY_REMOVED_BILLING_KEY) counts as deleted, so this is safe to repeat; a timeout or 5xx is retried.
   */
  async deleteBillingKey(billingKey: string): Promise<void> {
    try {
      await this.run('delete', {
        method: 'DELETE',
        path: `/v1/billing/${encodeURIComponent(billingKey)}`,
        label: `/v1/billing/${maskBillingKey(billingKey)}`,
        // Toss answers 200; what its body holds is not ours to read.
        parse: () => true,
        expect: 'a 2xx',
      });
    } catch (err) {
      if (err instanceof GatewayRequestError && err.code === 'ALREADY_REMOVED_BILLING_KEY') return;
      throw err;
    }
  }

  breakerState(): BreakerState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'halfOpen';
    return 'closed';
  }

  /** Stops the breaker's statistics timers (they never keep the process alive anyway). */
  shutdown(): void {
    this.breaker.shutdown();
  }

  private async run<T>(op: Op, call: HttpCall<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.breaker.fire(call)) as T;
      } catch (raw) {
        const err = asGatewayError(raw);
        if (attempt >= this.retries || !retryable(op, err)) throw err;
        const ceiling = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
      }
    }
  }

  /** One HTTP exchange: the parsed answer, or a typed error. */
  private async attempt<T>(call: HttpCall<T>): Promise<T> {
    const where = `${call.method} ${call.label ?? call.path}`;
    let status: number;
    let text: string;
    try {
      const res = await fetch(this.baseUrl + call.path, {
        method: call.method,
        headers: {
          authorization: this.authorization,
          accept: 'application/json',
          ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...call.headers,
        },
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      throw this.transportError(where, err);
    }

    const json = parseJson(text);
    if (status >= 200 && status < 300) {
      const answer = call.parse(json, text);
      if (answer === null) {
        throw new GatewayUnavailableError(`${where}: the gateway answered ${status} with something that is not ${call.expect}`, 'invalid_response', { status });
      }
      return answer;
    }

    const parsed = errorBodySchema.safeParse(json);
    const code = parsed.success ? parsed.data.code : null;
    const message = `${where}: ${status} ${code ?? ''} ${parsed.success ? (parsed.data.message ?? '') : text.slice(0, 200)}`.replace(/\s+/g, ' ').trim();
    if (status >= 500 || status === 429 || (code !== null && TRANSIENT_CODES.has(code))) {
      throw new GatewayUnavailableError(message, 'server_error', { code, status });
    }
    if (code === 'ALREADY_PROCESSED_PAYMENT') throw new PaymentAlreadyProcessedError(message, { code, status });
    if (code !== null && CARD_DECLINE_CODES.has(code)) {
      throw new PaymentDeclinedError(code, parsed.success ? (parsed.data.message ?? code) : code, status);
    }
    throw new GatewayRequestError(message, { code, status });
  }

  private transportError(where: string, err: unknown): GatewayError {
    // Duck-typed: fetch's errors may come from another realm (jest), where instanceof Error fails.
    const name = prop(err, 'name');
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new GatewayTimeoutError(`${where}: no answer within ${this.timeoutMs} ms`, { cause: err });
    }
    const causeCode = errorCode(prop(err, 'cause')) ?? errorCode(err);
    if (causeCode !== null && NOT_SENT_CODES.has(causeCode)) {
      return new GatewayUnavailableError(`${where}: cannot reach the gateway (${causeCode})`, 'network', { code: causeCode, cause: err });
    }
    return new GatewayTimeoutError(`${where}: the connection dropped before the gateway answered (${causeCode ?? 'network error'})`, {
      code: causeCode,
      cause: err,
    });
  }
}

/** Does this error say the gateway is in trouble (counts against the breaker)? Business answers do not. */
function isGatewayTrouble(err: unknown): boolean {
  return err instanceof GatewayTimeoutError || err instanceof GatewayUnavailableError || !(err instanceof GatewayError);
}

function retryable(op: Op, err: GatewayError): boolean {
  if (err instanceof GatewayUnavailableError) return err.reason === 'server_error' || err.reason === 'network';
  // The request may have been carried out: only operations that are safe to repeat go again (a charge and a
  // cancel carry an Idempotency-Key, a look-up and a delete change nothing twice).
  if (err instanceof GatewayTimeoutError) return op !== 'confirm' && op !== 'issue';
  return false;
}

/** opossum's own rejections (open breaker, shut down) become typed errors too. */
function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = errorCode(err);
  if (code === 'EOPENBREAKER') return new GatewayUnavailableError('payment gateway circuit is open: failing fast', 'breaker_open', { code, cause: err });
  const message = prop(err, 'message');
  return new GatewayUnavailableError(`payment gateway call failed: ${typeof message === 'string' ? message : String(err)}`, 'network', { code, cause: err });
}

function prop(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && key in value ? (value as Record<string, unknown>)[key] : undefined;
}

function errorCode(err: unknown): string | null {
  const code = prop(err, 'code');
  return typeof code === 'string' ? code : null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
