import type { ValueTransformer } from 'typeorm';

/** BIGINT columns come back as numbers (all our ids and won amounts are safe integers). */
export const bigintNumber: ValueTransformer = {
  to: (v: unknown) => v,
  from: (v: unknown) => (v === null || v === undefined ? v : Number(v)),
};
