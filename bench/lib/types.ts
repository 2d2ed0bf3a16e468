import type { ProfileSummary } from './cpuprofile';
import type { MachineInfo, RedisRates } from './env';
import type { FlashAnswers } from './flash';
import type { LoadResult } from './load';
import type { MicroResult } from './micro';
import type { PhaseUsage } from './sampler';

/** Everything one `npm run bench` measured: written as the raw JSON, rendered as the markdown report. */

export interface Settings {
  loadSeconds: number;
  warmupSeconds: number;
  drainSeconds: number;
  connections: number;
  workerCounts: number[];
  /** Open-loop offered rates (orders/s), their workers and seconds. */
  openRates: number[];
  openWorkers: number;
  /** WORKER_NICE values each open-loop rate runs with (0: workers at the api's priority). */
  openNice: number[];
  /** WORKER_NICE of the long flash sale's workers. */
  hotNice: number;
  openSeconds: number;
  /** Group commit sizes the pipeline runs with (WORKER_BATCH_SIZE; 1 = one order per transaction). */
  batchSizes: number[];
  /** Another Node to run one pipeline run on beside the project's (the machine's own, Node 20 here), or null. */
  otherNode: { path: string; version: string } | null;
  workerConcurrency: number;
  workerPoolSize: number;
  apiPoolSize: number;
  microConnections: number[];
  microSeconds: number;
  customers: number;
  products: number;
  flashOrders: number;
  flashStock: number;
  flashInFlight: number;
  flashWorkers: number;
  /** api processes serving the flash sales, sharing one port (API_REUSE_PORT). */
  flashApis: number;
  /** (e) the long flash sale: hot products, units each, orders offered over seconds. */
  hotProducts: number;
  hotStock: number;
  hotOrders: number;
  hotSeconds: number;
  hotWorkers: number;
  profile: boolean;
  /** The profiled run (the best (b) run's shape again, with --cpu-prof): its seconds. The measured runs run without the profiler. */
  profileSeconds: number;
  /** NODE_OPTIONS of the api and workers (the project's default unless set), and BENCH_NODE_ARGS if any. */
  nodeOptions?: string;
}

export interface MicroRun extends MicroResult {
  usage: PhaseUsage;
  mysql: Record<string, number>;
}

export interface ProcessLog {
  process: string;
  warn: number;
  error: number;
  messages: { message: string; count: number }[];
  exitCode: number | null;
}

export interface PipelineRun {
  workers: number;
  /** WORKER_BATCH_SIZE of its workers (1: batching off). */
  batchSize: number;
  /** The Node version its api and workers ran on. */
  node: string;
  load: LoadResult;
  /** Orders settled PAID in MySQL inside the load window. */
  paid: number;
  paidPerSec: number;
  /** Orders settled FAILED inside the window, by reason. */
  failed: Record<string, number>;
  /** Per 5 s of the window: accepted (HTTP 200) and settled PAID. */
  timeline: { fromSec: number; accepted: number; paid: number }[];
  backlogAtEnd: { queue: Record<string, number>; acceptedNotSettled: number };
  /** Load stopped, workers still running: how fast they settle the backlog on their own. */
  drain: { seconds: number; paid: number; paidPerSec: number; usage: PhaseUsage; backlogAfter: number };
  usage: PhaseUsage;
  mysql: Record<string, number>;
  redis: RedisRates;
  logs: ProcessLog[];
  profiles: ProfileSummary[];
  /** Whether its api and worker-1 ran with --cpu-prof (then its CPU and RSS include the profiler's). */
  profiled?: boolean;
}

/** (e) A long flash sale: orders offered at a fixed rate on a few hot products until they sell out, and after. */
export interface HotFlashRun {
  products: number[];
  stockEach: number;
  apis: number;
  workers: number;
  workerNice: number;
  rate: number;
  seconds: number;
  sent: number;
  accepted: number;
  outOfStock: number;
  /** Answers neither accepted nor OUT_OF_STOCK, by status, and network errors. */
  other: Record<string, number>;
  errors: number;
  answerMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  maxSendLagMs: number;
  /** From the first order to the last unit accepted. */
  soldOutAfterMs: number | null;
  paid: number;
  failed: number;
  stockAfter: number[];
  gateAfter: (number | null)[];
  usage: PhaseUsage;
  errorSamples: string[];
  logs: ProcessLog[];
}

export interface OpenLoopRun {
  rate: number;
  workers: number;
  /** The workers' WORKER_NICE (absent: 0). */
  workerNice?: number;
  batchSize: number;
  seconds: number;
  sent: number;
  ok: number;
  other: Record<string, number>;
  errors: number;
  /** Accept latency from each request's scheduled time. */
  acceptMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  maxSendLagMs: number;
  /** Accepted (the order id's time) → settled PAID in MySQL, over the window's accepted orders. */
  toPaidMs: { p50: number; p99: number; max: number; count: number };
  /** Accepted orders not yet settled when the offered load stopped, and after the drain wait. */
  backlogAtEnd: number;
  unsettledAfterDrain: number;
  paidPerSec: number;
  usage: PhaseUsage;
  errorSamples: string[];
}

export interface FlashRun {
  productId: number;
  /** api processes sharing the port (absent: one). */
  apis?: number;
  answers: Omit<FlashAnswers, 'acceptedOrderIds'>;
  settledMs: number | null;
  paid: number;
  failed: number;
  stockAfter: number;
  gateAfter: number | null;
  reservationsLeft: number;
  usage: PhaseUsage;
  logs: ProcessLog[];
  /** The api's CPU profile while it answered the sale. */
  profile: ProfileSummary | null;
}

export interface Target {
  phase: string;
  what: string;
  target: string;
  measured: string;
  pass: boolean;
  gap: string;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  totalSeconds: number;
  database: string;
  redisPrefix: string;
  settings: Settings;
  machine: MachineInfo;
  /** Machine busy (% of all cores) over a few seconds before the bench started anything: other tenants. */
  busyBefore: number;
  micro: MicroRun[];
  pipeline: PipelineRun[];
  /** Open loop: orders offered at fixed rates (issue 11's latency targets). */
  openLoop?: OpenLoopRun[];
  flash: FlashRun | null;
  /** The best (b) run's shape again with --cpu-prof, for the profiles (its figures are not the measured ones). */
  profileRun?: PipelineRun | null;
  hotFlash?: HotFlashRun | null;
  /** Why the run on the other Node (settings.otherNode) failed, if it did. */
  otherNodeError?: string;
  targets: Target[];
  findings: string[];
  profileDir: string | null;
  cleanup: string[];
  error: string | null;
}
