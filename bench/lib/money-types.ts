import type { StormAnswers, LuaCeiling } from './claims';
import type { ProfileSummary } from './cpuprofile';
import type { MachineInfo } from './env';
import type { Drive } from './money-load';
import type { PhaseUsage } from './sampler';
import type { ProcessLog, Target } from './types';

/** Everything one `npm run bench:money` measured: written as the raw JSON, rendered as the markdown report. */

export interface MoneySettings {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  rounds: number;
  pipelineRounds: number;
  customers: number;
  products: number;
  stormClaims: number;
  stormCustomers: number;
  stormQuantity: number;
  stormSockets: number;
  luaInFlight: number;
  luaSeconds: number;
  claimCoupons: number;
  pipelineCoupons: number;
  pointsPerOrder: number;
  pointLots: { amount: number; days: number }[];
  couponValue: number;
  workers: number;
  workerConcurrency: number;
  workerPoolSize: number;
  apiPoolSize: number;
  drainMaxSeconds: number;
  /** The commit whose plain orders are the "without this change" figure; 'none' skips it. */
  baseline: string;
  profile: boolean;
}

export interface StormRun {
  couponId: number;
  answers: Omit<StormAnswers, 'issuedTo'>;
  /** What MySQL and Redis hold after the storm. */
  mysqlClaims: number;
  mysqlClaimed: number;
  redisRemaining: number | null;
  redisHolders: number;
  /** Customers who heard yes are exactly the customers MySQL has claims for. */
  sameCustomers: boolean;
  usage: PhaseUsage;
  mysql: Record<string, number>;
}

/** One closed-loop phase of (2): the bare route or coupons.claim. */
export interface ClaimPhase {
  name: string;
  what: string;
  round: number;
  /** 'bare-ok' / 'bare-refused': the bare route; 'claims': a coupon with units left; 'sold-out': a sold-out coupon. */
  kind: 'bare-ok' | 'bare-refused' | 'claims' | 'sold-out';
  load: Drive;
  /** Claims issued (200) or refused (412) per second, or the bare route's answers per second. */
  perSec: number;
  /** % of the bare route's answers/s measured just before it (same round). */
  pctOfBare: number | null;
  usage: PhaseUsage;
  mysql: Record<string, number>;
  window: { fromUs: number; toUs: number };
}

export interface PipelinePhase {
  /** baseline: plain orders on the commit before the change; plain / coupon: today's code. */
  kind: 'baseline' | 'plain' | 'coupon';
  round: number;
  load: Drive;
  paid: number;
  paidPerSec: number;
  /** Settled other than PAID among the phase's measured orders, by reason. */
  failed: Record<string, number>;
  /** The measured orders, once the queue had drained: PAID + FAILED (all of them), and any not settled. */
  settled: number;
  paidSettled: number;
  unsettled: number;
  drainSeconds: number;
  usage: PhaseUsage;
  mysqlRates: Record<string, number>;
  /** Com_* and Questions deltas from just before the load to the drained queue. */
  com: Record<string, number>;
  /** The workers' order-transaction counters over the same span (today's code only). */
  counters: Record<string, number>;
  logs: ProcessLog[];
  /** Deadlocks InnoDB detected over the phase, and its account of the latest one. */
  deadlocks: number;
  lastDeadlock: string | null;
}

export interface MoneyResult {
  startedAt: string;
  finishedAt: string;
  totalSeconds: number;
  database: string;
  redisPrefix: string;
  settings: MoneySettings;
  machine: MachineInfo;
  busyBefore: number;
  baseline: { commit: string; subject: string; database: string } | null;
  storm: StormRun | null;
  claims: ClaimPhase[];
  lua: (LuaCeiling & { usage: PhaseUsage }) | null;
  claimsLogs: ProcessLog[];
  profiles: ProfileSummary[];
  pipeline: PipelinePhase[];
  targets: Target[];
  findings: string[];
  profileDir: string | null;
  cleanup: string[];
  error: string | null;
}
