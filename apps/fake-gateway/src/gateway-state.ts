import { createHash, randomBytes } from 'node:crypto';

/**
 * The fake gateway's books, in memory. Every method is synchronous: Node runs
 * one at a time, so a check and the write it guards can never interleave with
 * another request's — hundreds of parallel confirms or cancels each see the
 * state the previous one left, and every charge is recorded exactly once.
 * (Waiting, for a 'slow' confirm or cancel, happens in the HTTP layer after
 * the charge or cancel is booked here; so does dropping the connection for
 * 'lost'.)
 */

/** How a minted test paymentKey's confirm behaves. */
export const BEHAVIORS = ['ok', 'decline', 'fail5xx', 'slow', 'lost'] as const;
export type Behavior = (typeof BEHAVIORS)[number];

/**
 * Cancel fault switches, per paymentKey (set with POST /__test/cancel-faults).
 * Each applies to the next `times` cancels of that key, then it is gone:
 * 'fail5xx' answers 500 and cancels nothing (checked before the
 * Idempotency-Key replay: a 5xx is never stored); 'slow' cancels and answers
 * after `delayMs`; 'lost' cancels and drops the connection; 'decline' answers
 * 400 NOT_CANCELABLE_PAYMENT and cancels nothing. A replayed request never
 * uses up a 'slow', 'lost' or 'decline'. 'clear' removes the switch.
 */
export const CANCEL_FAULTS = ['fail5xx', 'slow', 'lost', 'decline', 'clear'] as const;
export type CancelFault = (typeof CANCEL_FAULTS)[number];

export interface CancelFaultOptions {
  paymentKey: string;
  behavior: CancelFault;
  /** How many cancels it applies to (default 1). */
  times?: number | undefined;
  /** slow: how long the answer waits after the cancel (default 1000 ms). */
  delayMs?: number | undefined;
}

/** A switch as set: what it does, how many cancels it still applies to. */
export interface CancelFaultSwitch {
  paymentKey: string;
  behavior: Exclude<CancelFault, 'clear'>;
  timesLeft: number;
  delayMs: number;
}

/**
 * Billing-charge fault switches, per billingKey (set with POST /__test/billing-faults): the same
 * behaviors, checked at the same points, as the cancel switches. Each applies to the next `times`
 * charges of that key, then it is gone: 'decline' answers 400 REJECT_CARD_PAYMENT and charges
 * nothing (a final answer: stored for its Idempotency-Key and replayed); 'fail5xx' answers 500 and
 * charges nothing (checked before the replay, never stored); 'slow' charges and answers after
 * `delayMs`; 'lost' charges and drops the connection. A replay never uses up a 'decline', 'slow'
 * or 'lost'. 'clear' removes the switch.
 */
export const BILLING_FAULTS = CANCEL_FAULTS;
export type BillingFault = CancelFault;

export interface BillingFaultOptions {
  billingKey: string;
  behavior: BillingFault;
  /** How many charges it applies to (default 1). */
  times?: number | undefined;
  /** slow: how long the answer waits after the charge (default 1000 ms). */
  delayMs?: number | undefined;
}

export interface BillingFaultSwitch {
  billingKey: string;
  behavior: Exclude<BillingFault, 'clear'>;
  timesLeft: number;
  delayMs: number;
}

/**
 * The authKeys the fake accepts (it has no card-registration window): `test_auth_` and 1 to 100 letters,
 * digits, `-` or `_`. The card it stands for is derived from it, so the same authKey always means the
 * same card.
 */
export const TEST_AUTH_KEY = /^test_auth_[A-Za-z0-9_-]{1,100}$/;

/** The card behind a billing key, as Toss describes it in the Billing object (masked number). */
export interface BillingCard {
  issuerCode: string;
  acquirerCode: string;
  number: string;
  cardType: '신용' | '체크';
  ownerType: '개인' | '법인';
}

/** The subset of Toss's Billing object the fake produces (answer of POST /v1/billing/authorizations/issue). */
export interface Billing {
  mId: string;
  customerKey: string;
  authenticatedAt: string;
  method: '카드';
  billingKey: string;
  card: BillingCard;
}

/** An issued billing key in the books (deletedAt: when DELETE /v1/billing/{billingKey} removed it). */
export interface BillingKeyRecord {
  billingKey: string;
  customerKey: string;
  authKey: string;
  issuedAt: string;
  deletedAt: string | null;
}

/**
 * Every well-formed billing charge request the fake received and what it answered (status null: the
 * connection was dropped; replayed: the answer stored for its Idempotency-Key, nothing charged).
 */
export interface BillingAttempt {
  billingKey: string;
  customerKey: string;
  orderId: string;
  amount: number;
  idempotencyKey: string | null;
  status: number | null;
  code: string | null;
  replayed: boolean;
  at: string;
}

export interface BillingChargeRequest {
  customerKey: string;
  amount: number;
  orderId: string;
  orderName: string;
  customerEmail?: string | undefined;
  customerName?: string | undefined;
  taxFreeAmount?: number | undefined;
}

/** Toss's Payment statuses (the fake only produces DONE, PARTIAL_CANCELED and CANCELED). */
export type PaymentStatus = 'READY' | 'IN_PROGRESS' | 'WAITING_FOR_DEPOSIT' | 'DONE' | 'CANCELED' | 'PARTIAL_CANCELED' | 'ABORTED' | 'EXPIRED';

export interface PaymentCancel {
  cancelAmount: number;
  cancelReason: string;
  canceledAt: string;
  transactionKey: string;
  cancelStatus: 'DONE';
  /** What is left to cancel after this one. */
  refundableAmount: number;
  taxFreeAmount: number;
}

/** The subset of Toss's Payment object the fake produces. */
export interface Payment {
  mId: string;
  version: string;
  paymentKey: string;
  orderId: string;
  /** Present on a billing (automatic) payment. */
  orderName?: string;
  /** NORMAL: confirmed from a paymentKey; BILLING: charged by billing key. */
  type: 'NORMAL' | 'BILLING';
  currency: 'KRW';
  country: 'KR';
  method: '카드';
  status: PaymentStatus;
  requestedAt: string;
  approvedAt: string;
  lastTransactionKey: string;
  totalAmount: number;
  balanceAmount: number;
  isPartialCancelable: boolean;
  cancels: PaymentCancel[];
  failure: null;
}

export interface TossError {
  code: string;
  message: string;
}

/** A finished HTTP answer: status and JSON body. */
export interface Answer {
  status: number;
  body: unknown;
}

/** What the HTTP layer must do with a confirm or cancel: answer now, answer after a delay, or drop the connection. */
export type Outcome = { kind: 'answer'; answer: Answer } | { kind: 'slow'; delayMs: number; answer: Answer } | { kind: 'lost' };
export type ConfirmOutcome = Outcome;
export type CancelOutcome = Outcome;

export interface ChargeRecord {
  paymentKey: string;
  orderId: string;
  amount: number;
  at: string;
  /** Only on a charge by billing key. */
  billingKey?: string;
}
/** A cancel that was applied (money given back): one per entry in the Payment's cancels[]. */
export interface CancelRecord {
  paymentKey: string;
  /** The cancels[] entry's transactionKey. */
  transactionKey: string;
  amount: number;
  idempotencyKey: string | null;
  at: string;
}
/**
 * Every well-formed cancel request the fake received and what it answered
 * (status null: the connection was dropped; replayed: the answer was the one
 * stored for its Idempotency-Key, nothing was cancelled).
 */
export interface CancelAttempt {
  paymentKey: string;
  idempotencyKey: string | null;
  /** cancelAmount as asked; null when absent (the whole balance). */
  amount: number | null;
  status: number | null;
  code: string | null;
  replayed: boolean;
  at: string;
}
/** Every confirm request the fake received and what it answered (status null: the connection was dropped). */
export interface ConfirmAttempt {
  paymentKey: string;
  orderId: string;
  amount: number;
  status: number | null;
  code: string | null;
  at: string;
}
export interface Ledger {
  payments: Payment[];
  charges: ChargeRecord[];
  cancels: CancelRecord[];
  /** Confirm attempts. */
  attempts: ConfirmAttempt[];
  cancelAttempts: CancelAttempt[];
  /** Every billing key issued, deleted ones too. */
  billingKeys: BillingKeyRecord[];
  /** Billing charge attempts. */
  billingAttempts: BillingAttempt[];
}

export interface MintOptions {
  amount: number;
  behavior?: Behavior;
  /** fail5xx: how many confirms answer 500 before it behaves ok (default 1). */
  times?: number;
  /** slow: how long the answer waits after the charge (default 1000 ms). */
  delayMs?: number;
}

interface MintedKey {
  amount: number;
  behavior: Behavior;
  failuresLeft: number;
  delayMs: number;
}

const err = (status: number, code: string, message: string): Answer => ({ status, body: { code, message } satisfies TossError });

export const errors = {
  notFoundPayment: () => err(404, 'NOT_FOUND_PAYMENT', '존재하지 않는 결제 정보 입니다.'),
  alreadyProcessed: () => err(400, 'ALREADY_PROCESSED_PAYMENT', '이미 처리된 결제 입니다.'),
  invalidRequest: (message = '잘못된 요청입니다.') => err(400, 'INVALID_REQUEST', message),
  duplicatedOrderId: () => err(400, 'DUPLICATED_ORDER_ID', '이미 승인 및 취소가 진행된 중복된 주문번호 입니다. 다른 주문번호로 진행해주세요.'),
  rejectCard: () => err(400, 'REJECT_CARD_PAYMENT', '카드 승인이 거절되었습니다'),
  internal: () => err(500, 'FAILED_INTERNAL_SYSTEM_PROCESSING', '내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요.'),
  notCancelableAmount: () => err(400, 'NOT_CANCELABLE_AMOUNT', '취소 할 수 없는 금액 입니다.'),
  alreadyCanceled: () => err(400, 'ALREADY_CANCELED_PAYMENT', '이미 취소된 결제 입니다.'),
  notCancelablePayment: () => err(400, 'NOT_CANCELABLE_PAYMENT', '취소 할 수 없는 결제 입니다.'),
  notMatchesRefundableAmount: () => err(400, 'NOT_MATCHES_REFUNDABLE_AMOUNT', '잔액 결과가 일치하지 않습니다.'),
  /** An authKey or billing key the gateway does not know (or an authKey already used for another customerKey). */
  invalidBillKey: () => err(400, 'INVALID_BILL_KEY_REQUEST', '빌링 인증이 완료되지 않았거나 유효하지 않은 요청입니다.'),
  notMatchesCustomerKey: () => err(400, 'NOT_MATCHES_CUSTOMER_KEY', '빌링 인증 고객키와 결제 요청 고객키가 일치하지 않습니다.'),
  alreadyRemovedBillingKey: () => err(400, 'ALREADY_REMOVED_BILLING_KEY', '이미 삭제된 빌링키입니다.'),
};

export interface CancelRequest {
  cancelReason: string;
  /** Absent: the whole balance. */
  cancelAmount?: number | undefined;
  /** When given, must equal the payment's balanceAmount (NOT_MATCHES_REFUNDABLE_AMOUNT otherwise). */
  refundableAmount?: number | undefined;
}

/** Toss writes times in KST with an offset and no fraction: 2024-01-01T11:31:51+09:00. */
export function kstIso(d: Date = new Date()): string {
  return `${new Date(d.getTime() + 9 * 3600_000).toISOString().slice(0, 19)}+09:00`;
}

const transactionKey = () => randomBytes(16).toString('hex').toUpperCase();

export class FakeGatewayState {
  private keys = new Map<string, MintedKey>();
  private payments = new Map<string, Payment>();
  private byOrderId = new Map<string, string>();
  /** Answers already given to a cancel, by paymentKey and Idempotency-Key (Toss scopes a key to key + method + URL). */
  private cancelAnswers = new Map<string, Answer>();
  private charges: ChargeRecord[] = [];
  private cancels: CancelRecord[] = [];
  private attempts: ConfirmAttempt[] = [];
  private cancelAttempts: CancelAttempt[] = [];
  private cancelFaults = new Map<string, CancelFaultSwitch>();
  /** Issued billing keys, by billingKey; and which key each authKey was exchanged for. */
  private billings = new Map<string, { billing: Billing; record: BillingKeyRecord }>();
  private billingByAuthKey = new Map<string, string>();
  /** Answers already given to a billing charge, by billingKey and Idempotency-Key. */
  private billingAnswers = new Map<string, Answer>();
  private billingAttempts: BillingAttempt[] = [];
  private billingFaults = new Map<string, BillingFaultSwitch>();

  constructor(private readonly mId = 'bazaar_fake') {}

  mint(opts: MintOptions): string {
    const paymentKey = `tgen_${randomBytes(15).toString('base64url')}`;
    const behavior = opts.behavior ?? 'ok';
    this.keys.set(paymentKey, {
      amount: opts.amount,
      behavior,
      failuresLeft: behavior === 'fail5xx' ? (opts.times ?? 1) : 0,
      delayMs: opts.delayMs ?? 1000,
    });
    return paymentKey;
  }

  confirm(req: { paymentKey: string; orderId: string; amount: number }): ConfirmOutcome {
    const outcome = this.decideConfirm(req);
    const at = new Date().toISOString();
    if (outcome.kind === 'lost') {
      this.attempts.push({ ...req, status: null, code: null, at });
    } else {
      const { status, body } = outcome.answer;
      this.attempts.push({ ...req, status, code: status === 200 ? null : (body as TossError).code, at });
    }
    return outcome;
  }

  private decideConfirm(req: { paymentKey: string; orderId: string; amount: number }): ConfirmOutcome {
    const key = this.keys.get(req.paymentKey);
    if (!key) return { kind: 'answer', answer: errors.notFoundPayment() };
    if (key.amount !== req.amount) {
      return { kind: 'answer', answer: errors.invalidRequest(`결제 금액이 일치하지 않습니다. (requested ${req.amount}, paymentKey is for ${key.amount})`) };
    }
    if (this.payments.has(req.paymentKey)) return { kind: 'answer', answer: errors.alreadyProcessed() };
    if (this.byOrderId.has(req.orderId)) return { kind: 'answer', answer: errors.duplicatedOrderId() };
    if (key.behavior === 'decline') return { kind: 'answer', answer: errors.rejectCard() };
    if (key.failuresLeft > 0) {
      key.failuresLeft -= 1;
      return { kind: 'answer', answer: errors.internal() };
    }

    const payment = this.charge(req);
    const answer: Answer = { status: 200, body: structuredClone(payment) };
    if (key.behavior === 'slow') return { kind: 'slow', delayMs: key.delayMs, answer };
    if (key.behavior === 'lost') return { kind: 'lost' };
    return { kind: 'answer', answer };
  }

  private charge(req: { paymentKey: string; orderId: string; amount: number }, billing?: { billingKey: string; orderName: string }): Payment {
    const now = kstIso();
    const payment: Payment = {
      mId: this.mId,
      version: '2022-11-16',
      paymentKey: req.paymentKey,
      orderId: req.orderId,
      ...(billing ? { orderName: billing.orderName } : {}),
      type: billing ? 'BILLING' : 'NORMAL',
      currency: 'KRW',
      country: 'KR',
      method: '카드',
      status: 'DONE',
      requestedAt: now,
      approvedAt: now,
      lastTransactionKey: transactionKey(),
      totalAmount: req.amount,
      balanceAmount: req.amount,
      isPartialCancelable: true,
      cancels: [],
      failure: null,
    };
    this.payments.set(req.paymentKey, payment);
    this.byOrderId.set(req.orderId, req.paymentKey);
    this.charges.push({ ...req, at: new Date().toISOString(), ...(billing ? { billingKey: billing.billingKey } : {}) });
    return payment;
  }

  /**
   * Exchanges an authKey (of the test shape {@link TEST_AUTH_KEY}) for a billing key bound to the
   * customerKey. The same authKey with the same customerKey again answers the same billing key (a retry
   * after a lost answer issues nothing new); with another customerKey, or an authKey not of the test shape,
   * 400 INVALID_BILL_KEY_REQUEST.
   */
  issueBilling(req: { authKey: string; customerKey: string }): Answer {
    if (!TEST_AUTH_KEY.test(req.authKey)) return errors.invalidBillKey();
    const issued = this.billingByAuthKey.get(req.authKey);
    if (issued !== undefined) {
      const known = this.billings.get(issued)!;
      if (known.billing.customerKey !== req.customerKey || known.record.deletedAt !== null) return errors.invalidBillKey();
      return { status: 200, body: structuredClone(known.billing) };
    }
    const digest = createHash('sha256').update(req.authKey).digest();
    const company = ['11', '41', '51', '61'][digest[0]! % 4]!;
    const billing: Billing = {
      mId: this.mId,
      customerKey: req.customerKey,
      authenticatedAt: kstIso(),
      method: '카드',
      billingKey: `bk_${randomBytes(24).toString('base64url')}`,
      card: {
        issuerCode: company,
        acquirerCode: company,
        number: `433012******${String(digest.readUInt16BE(1) % 1000).padStart(3, '0')}*`,
        cardType: '신용',
        ownerType: '개인',
      },
    };
    this.billings.set(billing.billingKey, {
      billing,
      record: { billingKey: billing.billingKey, customerKey: req.customerKey, authKey: req.authKey, issuedAt: new Date().toISOString(), deletedAt: null },
    });
    this.billingByAuthKey.set(req.authKey, billing.billingKey);
    return { status: 200, body: structuredClone(billing) };
  }

  /** Sets (or, with 'clear', removes) the charge fault switch of a billing key; the switch as it now stands, null when cleared. */
  setBillingFault(opts: BillingFaultOptions): BillingFaultSwitch | null {
    if (opts.behavior === 'clear') {
      this.billingFaults.delete(opts.billingKey);
      return null;
    }
    const fault: BillingFaultSwitch = { billingKey: opts.billingKey, behavior: opts.behavior, timesLeft: opts.times ?? 1, delayMs: opts.delayMs ?? 1000 };
    this.billingFaults.set(opts.billingKey, fault);
    return { ...fault };
  }

  /**
   * Charges a billing key: a Payment of type BILLING (status DONE, its own paymentKey: it is looked up,
   * cancelled and refunded like any other). With an Idempotency-Key the first final answer (anything but a
   * 5xx) is stored and every later request with that key gets it again, charging nothing. A new request for
   * an orderId already charged is refused with 400 DUPLICATED_ORDER_ID: one orderId is charged at most once,
   * whatever the key. Refused too: an unknown key (INVALID_BILL_KEY_REQUEST), a deleted one
   * (ALREADY_REMOVED_BILLING_KEY), a customerKey other than the one it was issued to
   * (NOT_MATCHES_CUSTOMER_KEY). Fault switches ({@link BILLING_FAULTS}) as for cancels: 'fail5xx' before
   * the replay, the others after it and after the refusals.
   */
  chargeBilling(billingKey: string, req: BillingChargeRequest, idempotencyKey: string | null): Outcome {
    const record = (status: number | null, code: string | null, replayed: boolean) =>
      this.billingAttempts.push({
        billingKey,
        customerKey: req.customerKey,
        orderId: req.orderId,
        amount: req.amount,
        idempotencyKey,
        status,
        code,
        replayed,
        at: new Date().toISOString(),
      });
    const answered = (answer: Answer, replayed: boolean) => {
      record(answer.status, answer.status === 200 ? null : (answer.body as TossError).code, replayed);
      return answer;
    };

    if (this.takeBillingFault(billingKey, 'fail5xx')) return { kind: 'answer', answer: answered(errors.internal(), false) };
    const storeKey = idempotencyKey === null ? null : `${billingKey}\n${idempotencyKey}`;
    if (storeKey !== null) {
      const replay = this.billingAnswers.get(storeKey);
      if (replay) return { kind: 'answer', answer: answered(structuredClone(replay), true) };
    }
    const store = (answer: Answer) => {
      if (storeKey !== null && answer.status < 500) this.billingAnswers.set(storeKey, structuredClone(answer));
      return answer;
    };

    const refusal = this.billingRefusal(billingKey, req);
    if (refusal) return { kind: 'answer', answer: answered(store(refusal), false) };
    const fault = this.takeBillingFault(billingKey, 'decline', 'slow', 'lost');
    const answer = store(
      fault?.behavior === 'decline'
        ? errors.rejectCard()
        : {
            status: 200,
            body: structuredClone(
              this.charge(
                { paymentKey: `tgen_${randomBytes(15).toString('base64url')}`, orderId: req.orderId, amount: req.amount },
                { billingKey, orderName: req.orderName },
              ),
            ),
          },
    );
    if (fault?.behavior === 'lost') {
      record(null, null, false);
      return { kind: 'lost' };
    }
    answered(answer, false);
    return fault?.behavior === 'slow' ? { kind: 'slow', delayMs: fault.delayMs, answer } : { kind: 'answer', answer };
  }

  private billingRefusal(billingKey: string, req: BillingChargeRequest): Answer | null {
    const known = this.billings.get(billingKey);
    if (!known) return errors.invalidBillKey();
    if (known.record.deletedAt !== null) return errors.alreadyRemovedBillingKey();
    if (known.billing.customerKey !== req.customerKey) return errors.notMatchesCustomerKey();
    if (this.byOrderId.has(req.orderId)) return errors.duplicatedOrderId();
    return null;
  }

  private takeBillingFault(billingKey: string, ...behaviors: BillingFaultSwitch['behavior'][]): BillingFaultSwitch | null {
    const fault = this.billingFaults.get(billingKey);
    if (!fault || !behaviors.includes(fault.behavior)) return null;
    fault.timesLeft -= 1;
    if (fault.timesLeft <= 0) this.billingFaults.delete(billingKey);
    return fault;
  }

  /**
   * Deletes a billing key: it charges nothing more (ALREADY_REMOVED_BILLING_KEY). 200 with no body; a key
   * already deleted → 400 ALREADY_REMOVED_BILLING_KEY; an unknown one → 400 INVALID_BILL_KEY_REQUEST.
   * Payments made with it are untouched (still cancellable).
   */
  deleteBilling(billingKey: string): Answer {
    const known = this.billings.get(billingKey);
    if (!known) return errors.invalidBillKey();
    // The key's 'fail5xx' switch fails deletes too (nothing deleted): the delete is tried again later.
    if (this.takeBillingFault(billingKey, 'fail5xx')) return errors.internal();
    if (known.record.deletedAt !== null) return errors.alreadyRemovedBillingKey();
    known.record.deletedAt = new Date().toISOString();
    return { status: 200, body: undefined };
  }

  /** Sets (or, with 'clear', removes) the cancel fault switch of a paymentKey; the switch as it now stands, null when cleared. */
  setCancelFault(opts: CancelFaultOptions): CancelFaultSwitch | null {
    if (opts.behavior === 'clear') {
      this.cancelFaults.delete(opts.paymentKey);
      return null;
    }
    const fault: CancelFaultSwitch = { paymentKey: opts.paymentKey, behavior: opts.behavior, timesLeft: opts.times ?? 1, delayMs: opts.delayMs ?? 1000 };
    this.cancelFaults.set(opts.paymentKey, fault);
    return { ...fault };
  }

  /**
   * Cancels all (cancelAmount absent) or part of the balance. With an
   * Idempotency-Key, the first final answer (anything but a 5xx) is stored
   * and every later request with that key gets it again, at once, cancelling
   * nothing. Fault switches: 'fail5xx' comes before the replay; 'decline',
   * 'slow' and 'lost' after it, so a replay never uses one up. A 'slow' or
   * 'lost' cancel is applied and stored like any other.
   */
  cancel(paymentKey: string, req: CancelRequest, idempotencyKey: string | null): CancelOutcome {
    const record = (status: number | null, code: string | null, replayed: boolean) =>
      this.cancelAttempts.push({ paymentKey, idempotencyKey, amount: req.cancelAmount ?? null, status, code, replayed, at: new Date().toISOString() });
    const answered = (answer: Answer, replayed: boolean) => {
      record(answer.status, answer.status === 200 ? null : (answer.body as TossError).code, replayed);
      return answer;
    };

    if (this.takeFault(paymentKey, 'fail5xx')) return { kind: 'answer', answer: answered(errors.internal(), false) };

    const storeKey = idempotencyKey === null ? null : `${paymentKey}\n${idempotencyKey}`;
    if (storeKey !== null) {
      const replay = this.cancelAnswers.get(storeKey);
      if (replay) return { kind: 'answer', answer: answered(structuredClone(replay), true) };
    }

    const fault = this.takeFault(paymentKey, 'decline', 'slow', 'lost');
    const answer = fault?.behavior === 'decline' ? errors.notCancelablePayment() : this.applyCancel(paymentKey, req, idempotencyKey);
    if (storeKey !== null && answer.status < 500) this.cancelAnswers.set(storeKey, structuredClone(answer));
    if (fault?.behavior === 'lost') {
      record(null, null, false);
      return { kind: 'lost' };
    }
    answered(answer, false);
    return fault?.behavior === 'slow' ? { kind: 'slow', delayMs: fault.delayMs, answer } : { kind: 'answer', answer };
  }

  /** The paymentKey's switch if it is one of `behaviors` and has cancels left, using one up. */
  private takeFault(paymentKey: string, ...behaviors: CancelFaultSwitch['behavior'][]): CancelFaultSwitch | null {
    const fault = this.cancelFaults.get(paymentKey);
    if (!fault || !behaviors.includes(fault.behavior)) return null;
    fault.timesLeft -= 1;
    if (fault.timesLeft <= 0) this.cancelFaults.delete(paymentKey);
    return fault;
  }

  private applyCancel(paymentKey: string, req: CancelRequest, idempotencyKey: string | null): Answer {
    const payment = this.payments.get(paymentKey);
    if (!payment) return errors.notFoundPayment();
    if (payment.status === 'CANCELED') return errors.alreadyCanceled();
    if (req.refundableAmount !== undefined && req.refundableAmount !== payment.balanceAmount) return errors.notMatchesRefundableAmount();
    const amount = req.cancelAmount ?? payment.balanceAmount;
    if (amount > payment.balanceAmount) return errors.notCancelableAmount();

    const tx = transactionKey();
    payment.balanceAmount -= amount;
    payment.status = payment.balanceAmount === 0 ? 'CANCELED' : 'PARTIAL_CANCELED';
    payment.lastTransactionKey = tx;
    payment.cancels.push({
      cancelAmount: amount,
      cancelReason: req.cancelReason,
      canceledAt: kstIso(),
      transactionKey: tx,
      cancelStatus: 'DONE',
      refundableAmount: payment.balanceAmount,
      taxFreeAmount: 0,
    });
    this.cancels.push({ paymentKey, transactionKey: tx, amount, idempotencyKey, at: new Date().toISOString() });
    return { status: 200, body: structuredClone(payment) };
  }

  get(paymentKey: string): Answer {
    const payment = this.payments.get(paymentKey);
    return payment ? { status: 200, body: structuredClone(payment) } : errors.notFoundPayment();
  }

  getByOrderId(orderId: string): Answer {
    const paymentKey = this.byOrderId.get(orderId);
    return paymentKey === undefined ? errors.notFoundPayment() : this.get(paymentKey);
  }

  /** Everything recorded, or only what concerns one order. */
  ledger(orderId?: string): Ledger {
    const all: Ledger = {
      payments: [...this.payments.values()],
      charges: this.charges,
      cancels: this.cancels,
      attempts: this.attempts,
      cancelAttempts: this.cancelAttempts,
      billingKeys: [...this.billings.values()].map((b) => b.record),
      billingAttempts: this.billingAttempts,
    };
    if (orderId === undefined) return structuredClone(all);
    const billingKeys = new Set(all.billingAttempts.filter((a) => a.orderId === orderId).map((a) => a.billingKey));
    const keys = new Set(all.payments.filter((p) => p.orderId === orderId).map((p) => p.paymentKey));
    return structuredClone({
      payments: all.payments.filter((p) => keys.has(p.paymentKey)),
      charges: all.charges.filter((c) => c.orderId === orderId),
      cancels: all.cancels.filter((c) => keys.has(c.paymentKey)),
      attempts: all.attempts.filter((a) => a.orderId === orderId),
      cancelAttempts: all.cancelAttempts.filter((a) => keys.has(a.paymentKey)),
      billingKeys: all.billingKeys.filter((b) => billingKeys.has(b.billingKey)),
      billingAttempts: all.billingAttempts.filter((a) => a.orderId === orderId),
    });
  }

  reset(): void {
    this.keys.clear();
    this.payments.clear();
    this.byOrderId.clear();
    this.cancelAnswers.clear();
    this.charges = [];
    this.cancels = [];
    this.attempts = [];
    this.cancelAttempts = [];
    this.cancelFaults.clear();
    this.billings.clear();
    this.billingByAuthKey.clear();
    this.billingAnswers.clear();
    this.billingAttempts = [];
    this.billingFaults.clear();
  }
}
