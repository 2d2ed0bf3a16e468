import type { ProfileSummary } from './cpuprofile';
import type { MachineInfo } from './env';
import type { CeilingResult } from './refunds-ceiling';
import type { BatchCheck } from './refunds-checks';
import type { ctxtPerRefund } from './refunds-procs';
import type { PhaseUsage } from './sampler';
import type { ProcessLog } from './types';

/** Everything one `npm run bench:refunds` measured: written as the raw JSON, rendered as the markdown report. */

export type CtxtPerRefund = ReturnType<typeof ctxtPerRefund>;

export interface RefundsSettings {
  /** Refunds per measured phase (3 per order: REFUND_PLAN). */
  refundsPerPhase: number;
  /** Refunds of each kind the workers apply unmeasured before the 1-worker and before the 2-worker phases. */
  warmupRefunds: number;
  workerConcurrency: number;
  workerPoolSize: number;
  /** How long each ceiling run goes on (it stops early if its refunds run out). */
  ceilingSeconds: number;
  /** Refunds seeded for each ceiling run (an upper bound on what it can do in ceilingSeconds). */
  ceilingRefunds: number;
  drainMaxSeconds: number;
  products: number;
  seedChunk: number;
  profile: boolean;
  quietWaitSeconds: number;
}

export interface CeilingRun extends Omit<CeilingResult, 'done'> {
  /** The phase it was measured just before (the phase's ratio is to this run). */
  before: string;
  usage: PhaseUsage;
  /** SHOW GLOBAL STATUS deltas over the run (Com_*, Questions). */
  com: Record<string, number>;
  /** Questions/s MariaDB answered for others over a second just before (SHOW GLOBAL STATUS is server-wide). */
  backgroundQuestionsPerSec: number;
  /** Its refunds COMPLETED in MySQL afterwards (= refunds, or something is wrong). */
  completedInMysql: number;
  /** Context switches per refund over the run: the whole machine's, and each process's threads'. */
  ctxt: CtxtPerRefund;
}

export interface RefundPhase {
  name: string;
  method: 'BALANCE' | 'CARD';
  workers: number;
  refunds: number;
  /** Completed refunds per second between the first and the last completed_at (MySQL's clock) of the phase's refunds. */
  perSec: number;
  firstCompleted: string | null;
  lastCompleted: string | null;
  spanSeconds: number;
  /** From the queue's resume to the workers' counters reaching every refund. */
  wallSeconds: number;
  wallPerSec: number;
  timedOut: boolean;
  ceiling: CeilingRun;
  /** perSec ÷ the ceiling's refunds/s. */
  ratio: number;
  usage: PhaseUsage;
  mysqlRates: Record<string, number>;
  com: Record<string, number>;
  /** The workers' refund counters, deltas over the phase (load + drain), summed over workers. */
  counters: Record<string, number>;
  /** BullMQ jobs that failed an attempt during the phase (each is retried). */
  failedAttempts: number;
  deadlocks: number;
  /** Questions/s MariaDB answered for others over a second just before the phase (SHOW GLOBAL STATUS is server-wide). */
  backgroundQuestionsPerSec: number;
  /** Redis commands (INFO commandstats deltas over the phase) per refund, and the most called. */
  redis: { commandsPerRefund: number; usecPerRefund: number; top: { command: string; perRefund: number; usecPerCall: number }[] };
  /** Context switches per refund over the drain: the whole machine's, and each process's threads'. */
  ctxt: CtxtPerRefund;
  /** Refunds each worker completed in the phase (its bazaar_refunds_total{outcome="completed"}). */
  completedByWorker: Record<string, number>;
  check: BatchCheck;
  logs: ProcessLog[];
  window: { fromUs: number; toUs: number };
}

export interface RefundsResult {
  startedAt: string;
  finishedAt: string;
  totalSeconds: number;
  database: string;
  redisPrefix: string;
  settings: RefundsSettings;
  machine: MachineInfo;
  /** /proc/loadavg when the bench started, and the machine's busy % over 3 s before it started anything. */
  loadavgBefore: string;
  busyBefore: number;
  seed: { orders: number; refunds: number; customers: number; seconds: number; gatewayPayments: number };
  warmups: { name: string; refunds: number; seconds: number; ok: boolean }[];
  ceilings: CeilingRun[];
  phases: RefundPhase[];
  /** After the last phase: whole-database invariants, with the ceiling runs' refunds included. */
  finalInvariants: { wallets: number; lots: number; stock: number; problems: string[] } | null;
  profiles: ProfileSummary[];
  findings: string[];
  profileDir: string | null;
  cleanup: string[];
  error: string | null;
}
