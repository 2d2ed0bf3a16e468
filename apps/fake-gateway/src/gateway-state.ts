import { randomBytes } from 'node:crypto';

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
  type: 'NORMAL';
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

  private charge(req: { paymentKey: string; orderId: string; amount: number }): Payment {
    const now = kstIso();
    const payment: Payment = {
      mId: this.mId,
      version: '2022-11-16',
      paymentKey: req.paymentKey,
      orderId: req.orderId,
      type: 'NORMAL',
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
    this.charges.push({ ...req, at: new Date().toISOString() });
    return payment;
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
    };
    if (orderId === undefined) return structuredClone(all);
    const keys = new Set(all.payments.filter((p) => p.orderId === orderId).map((p) => p.paymentKey));
    return structuredClone({
      payments: all.payments.filter((p) => keys.has(p.paymentKey)),
      charges: all.charges.filter((c) => c.orderId === orderId),
      cancels: all.cancels.filter((c) => keys.has(c.paymentKey)),
      attempts: all.attempts.filter((a) => a.orderId === orderId),
      cancelAttempts: all.cancelAttempts.filter((a) => keys.has(a.paymentKey)),
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
  }
}
