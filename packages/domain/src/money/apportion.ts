import { assertSafeInt, safeSum, toSafeNumber } from './integers';

/**
 * Splits the integer `total` over lines in proportion to integer `weights`
 * (money.md §1), so that the shares add up to `total` exactly:
 *
 * 1. each line gets `floor(total * w_i / W)` (W = sum of weights);
 * 2. the `total - sum(floors)` won left over go one each to the lines with the
 *    largest remainders `(total * w_i) mod W`; equal remainders: lower index first.
 *
 * W = 0 requires total = 0 and gives every line 0. A zero weight always gets 0.
 * `total * w_i` is computed in BigInt, so any safe-integer inputs are exact.
 *
 * @throws RangeError if total or a weight is not a non-negative safe integer,
 *   if the weights sum past the safe range, or if W = 0 while total > 0.
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  assertSafeInt('total', total);
  weights.forEach((w, i) => assertSafeInt(`weights[${i}]`, w));
  const sumW = safeSum('sum of weights', weights);
  if (sumW === 0) {
    if (total !== 0) throw new RangeError(`cannot apportion ${total} over weights that sum to 0`);
    return weights.map(() => 0);
  }

  const bigTotal = BigInt(total);
  const bigW = BigInt(sumW);
  const shares: number[] = [];
  const remainders: bigint[] = [];
  let allotted = 0;
  for (const w of weights) {
    const product = bigTotal * BigInt(w);
    const share = toSafeNumber('share', product / bigW);
    shares.push(share);
    remainders.push(product % bigW);
    allotted += share;
  }

  const leftover = total - allotted; // < number of lines with a non-zero remainder
  if (leftover > 0) {
    const order = weights.map((_, i) => i);
    order.sort((a, b) => {
      const ra = remainders[a] ?? 0n;
      const rb = remainders[b] ?? 0n;
      if (ra !== rb) return ra > rb ? -1 : 1;
      return a - b;
    });
    for (let k = 0; k < leftover; k++) {
      const i = order[k];
      if (i === undefined) throw new Error('apportion: leftover exceeds line count'); // unreachable
      shares[i] = (shares[i] ?? 0) + 1;
    }
  }
  return shares;
}
