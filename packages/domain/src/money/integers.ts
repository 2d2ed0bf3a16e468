/**
 * Integer helpers shared by the money rules. Money is integer won held in JS
 * numbers that are safe integers; any product that could leave the safe range
 * is computed in BigInt and converted back only once it is known to fit.
 */

/** Throws a RangeError unless `value` is a safe integer >= `min`. */
export function assertSafeInt(name: string, value: number, min = 0): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be a safe integer >= ${min}, got ${String(value)}`);
  }
}

/** Converts a BigInt back to a number, refusing anything outside the safe range. */
export function toSafeNumber(name: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`${name} is outside the safe integer range`);
  }
  return Number(value);
}

/** Adds safe integers, throwing a RangeError if the sum leaves the safe range. */
export function safeSum(name: string, values: readonly number[]): number {
  let sum = 0;
  for (const v of values) {
    sum += v;
    if (!Number.isSafeInteger(sum)) throw new RangeError(`${name} is outside the safe integer range`);
  }
  return sum;
}

/** floor(a * b / c) for non-negative integers, exact (BigInt inside); c > 0. */
export function mulDivFloor(a: number, b: number, c: number): number {
  return toSafeNumber('mulDivFloor result', (BigInt(a) * BigInt(b)) / BigInt(c));
}
