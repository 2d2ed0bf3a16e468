/**
 * money.md §5 end to end: pricing, the spend, and the refund sequence, with a
 * minimal in-memory ledger standing in for the repositories.
 */
import { OrderStatus } from '@bazaar/contracts';
import {
  REISSUE_VALID_DAYS,
  REWARD_VALID_DAYS,
  applyClawback,
  assertTransition,
  expiryAfter,
  liveBalance,
  planGiveBack,
  planSpend,
  priceOrder,
  refundShares,
  type ConsumedLot,
  type PointLot,
} from './index';

const DAY_MS = 86_400_000;
const day = (n: number): Date => new Date(Date.UTC(2025, 0, 1) + n * DAY_MS);

describe('worked example (money.md §5)', () => {
  it('prices, spends and refunds exactly as the spec says', () => {
    const lots: PointLot[] = [
      { id: 1, remaining: 3_000, expiresAt: day(10) },
      { id: 2, remaining: 5_000, expiresAt: day(40) },
    ];
    const lot = (id: number): PointLot => {
      const found = lots.find((l) => l.id === id);
      if (found === undefined) throw new Error(`no lot ${id}`);
      return found;
    };
    let status: OrderStatus = OrderStatus.PENDING;
    const move = (to: OrderStatus): void => {
      assertTransition(status, to);
      status = to;
    };

    // Day 5: the order.
    const order = priceOrder({
      lines: [
        { storeId: 1, unitPrice: 15_000, quantity: 2 },
        { storeId: 1, unitPrice: 8_000, quantity: 1 },
        { storeId: 2, unitPrice: 2_500, quantity: 3 },
      ],
      coupon: { kind: 'PERCENT', value: 10, maxDiscount: 3_000, minOrderAmount: 20_000, storeId: 1 },
      points: 4_000,
      pointBalance: liveBalance(lots, day(5)),
    });
    if (!order.ok) throw new Error(order.reason);
    expect(order.lines.map((l) => [l.discount, l.points, l.cash, l.earned])).toEqual([
      [2_368, 2_601, 25_031, 250],
      [632, 693, 6_675, 67],
      [0, 706, 6_794, 68],
    ]);
    expect([order.discount, order.pointsUsed, order.cashPaid, order.earned]).toEqual([3_000, 4_000, 38_500, 385]);

    const spend = planSpend(lots, order.pointsUsed, day(5));
    expect(spend).toEqual([
      { lotId: 1, amount: 3_000 },
      { lotId: 2, amount: 1_000 },
    ]);
    for (const row of spend) lot(row.lotId).remaining -= row.amount;
    expect([lot(1).remaining, lot(2).remaining]).toEqual([0, 4_000]);
    const consumed: ConsumedLot[] = spend.map((r) => ({ ...r, expiresAt: lot(r.lotId).expiresAt }));

    move(OrderStatus.PAID);
    const reward: PointLot = { id: 3, remaining: order.earned, expiresAt: expiryAfter(day(5), REWARD_VALID_DAYS) };
    lots.push(reward);
    expect(reward.remaining).toBe(385);

    // The refund workflow for one line, as the worker would run it.
    const refunded = [0, 0, 0];
    const totals = { cash: 0, points: 0, clawback: 0 };
    let nextLotId = 4;
    const refund = (lineIndex: number, units: number, now: Date) => {
      const line = order.lines[lineIndex];
      const quantity = [2, 1, 3][lineIndex];
      if (line === undefined || quantity === undefined) throw new Error('no line');
      const shares = refundShares({
        quantity,
        refundedBefore: refunded[lineIndex] ?? 0,
        refundNow: units,
        lineCash: line.cash,
        linePoints: line.points,
        lineEarned: line.earned,
      });
      refunded[lineIndex] = (refunded[lineIndex] ?? 0) + units;

      const giveBack = planGiveBack(consumed, shares.points, now);
      for (const u of giveBack.undone) {
        const row = consumed.find((c) => c.lotId === u.lotId);
        if (row === undefined) throw new Error('no row');
        row.amount -= u.amount;
      }
      for (const t of giveBack.toLots) lot(t.lotId).remaining += t.amount;
      let reissued: PointLot | null = null;
      if (giveBack.reissue > 0) {
        reissued = { id: nextLotId++, remaining: giveBack.reissue, expiresAt: expiryAfter(now, REISSUE_VALID_DAYS) };
        lots.push(reissued);
      }

      const claw = applyClawback(shares.cash, shares.clawback, reward.remaining);
      reward.remaining -= claw.fromLot;
      totals.cash += claw.cashBack;
      totals.points += shares.points;
      totals.clawback += claw.fromLot + claw.fromCash;
      return { shares, giveBack, claw, reissued };
    };

    // Day 8: one rose.
    const r1 = refund(0, 1, day(8));
    move(OrderStatus.PARTIALLY_REFUNDED);
    expect(r1.shares).toEqual({ cash: 12_515, points: 1_300, clawback: 125 });
    expect(r1.giveBack.toLots).toEqual([
      { lotId: 2, amount: 1_000 },
      { lotId: 1, amount: 300 },
    ]);
    expect(r1.giveBack.reissue).toBe(0);
    expect(r1.claw).toEqual({ fromLot: 125, fromExpired: 0, fromCash: 0, cashBack: 12_515, waived: 0 });
    expect([lot(1).remaining, lot(2).remaining, reward.remaining]).toEqual([300, 5_000, 260]);

    // Day 12: the three cards; L1 expired on day 10.
    const r2 = refund(2, 3, day(12));
    move(OrderStatus.PARTIALLY_REFUNDED);
    expect(r2.shares).toEqual({ cash: 6_794, points: 706, clawback: 68 });
    expect(r2.giveBack).toEqual({ undone: [{ lotId: 1, amount: 706 }], toLots: [], reissue: 706 });
    expect(r2.reissued).toEqual({ id: 4, remaining: 706, expiresAt: day(42) });
    expect(lot(1).remaining).toBe(300); // an expired lot is not raised
    expect(reward.remaining).toBe(192);

    // Later: the other rose, then the vase.
    const r3 = refund(0, 1, day(20));
    move(OrderStatus.PARTIALLY_REFUNDED);
    expect(r3.shares).toEqual({ cash: 12_516, points: 1_301, clawback: 125 });
    const r4 = refund(1, 1, day(20));
    move(OrderStatus.REFUNDED);
    expect(r4.shares).toEqual({ cash: 6_675, points: 693, clawback: 67 });

    expect(totals).toEqual({ cash: 38_500, points: 4_000, clawback: 385 });
    expect(consumed.map((c) => c.amount)).toEqual([0, 0]);
    expect(reward.remaining).toBe(0);
    expect(status).toBe(OrderStatus.REFUNDED);
  });
});
