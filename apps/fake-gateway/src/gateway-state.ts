import { randomBytes } from 'node:crypto';

/**
 * The fake gateway's books, in memory. Every method is synchronous: Node runs
 * one at a time, so a check and the write it guards can never interleave with
 * another request's — hundreds of parallel confirms or cancels each see the
 * state the previous one left, and every charge is recorded exactly once.
 * (Waiting, for the 'slow' behavior, happens in the HTTP layer after the
 * charge is booked here.)
 */

/** How a minted test paymentKey's confirm behaves. */
export const BEHAVIORS = ['ok', 'decline', 'fail5xx', 'slow', 'lost'] as const;
export type Behavior = (typeof BEHAVIORS)[number];

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

/** What the HTTP layer must do with a confirm: answer now, answer after a delay, or drop the connection. */
export type ConfirmOutcome = { kind: 'answer'; answer: Answer } | { kind: 'slow'; delayMs: number; answer: Answer } | { kind: 'lost' };

export interface ChargeRecord {
  paymentKey: string;
  orderId: string;
  amount: number;
  at: string;
}
export interface CancelRecord {
  paymentKey: string;
  amount: number;
  idempotencyKey: string | null;
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
  attempts: ConfirmAttempt[];
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
};

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

  /**
   * Cancels all (cancelAmount absent) or part of the balance. With an
   * Idempotency-Key, the first final answer (anything but a 5xx) is stored
   * and every later request with that key gets it again, cancelling nothing.
   */
  cancel(paymentKey: string, req: { cancelReason: string; cancelAmount?: number | undefined }, idempotencyKey: string | null): Answer {
    const storeKey = idempotencyKey === null ? null : `${paymentKey}\n${idempotencyKey}`;
    if (storeKey !== null) {
      const replay = this.cancelAnswers.get(storeKey);
      if (replay) return structuredClone(replay);
    }
    const answer = this.applyCancel(paymentKey, req, idempotencyKey);
    if (storeKey !== null && answer.status < 500) this.cancelAnswers.set(storeKey, structuredClone(answer));
    return answer;
  }

  private applyCancel(paymentKey: string, req: { cancelReason: string; cancelAmount?: number | undefined }, idempotencyKey: string | null): Answer {
    const payment = this.payments.get(paymentKey);
    if (!payment) return errors.notFoundPayment();
    if (payment.status === 'CANCELED') return errors.alreadyCanceled();
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
    this.cancels.push({ paymentKey, amount, idempotencyKey, at: new Date().toISOString() });
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
    const all: Ledger = { payments: [...this.payments.values()], charges: this.charges, cancels: this.cancels, attempts: this.attempts };
    if (orderId === undefined) return structuredClone(all);
    const keys = new Set(all.payments.filter((p) => p.orderId === orderId).map((p) => p.paymentKey));
    return structuredClone({
      payments: all.payments.filter((p) => keys.has(p.paymentKey)),
      charges: all.charges.filter((c) => c.orderId === orderId),
      cancels: all.cancels.filter((c) => keys.has(c.paymentKey)),
      attempts: all.attempts.filter((a) => a.orderId === orderId),
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
  }
}
