import type { KeepAlivePool } from './room-http';
import { Samples, sleep, summarize, type LatencySummary } from './stats';

/**
 * The waiting-room bench's load: every user enters at once, then every user polls waitingRoom.status in a closed
 * loop with a fixed think time (the next poll is due THINK ms after the last answer), over one KeepAlivePool.
 */

export interface RoomUser {
  userId: number;
  token: string;
}

export type Latency = LatencySummary & { p999: number };

export function latency(values: Float64Array): Latency {
  const s = summarize(values);
  if (values.length === 0) return { ...s, p999: 0 };
  const sorted = Float64Array.from(values).sort();
  return { ...s, p999: sorted[Math.min(sorted.length - 1, Math.ceil(0.999 * sorted.length) - 1)] ?? 0 };
}

const STATES = ['WAITING', 'ADMITTED', 'SOLD_OUT', 'NOT_IN_LINE', 'CLOSED'] as const;
type State = (typeof STATES)[number];
const stateOf = (body: string): State | null => {
  const m = /"state":"([A-Z_]+)"/.exec(body);
  return m && (STATES as readonly string[]).includes(m[1]!) ? (m[1] as State) : null;
};

const enterText = (eventId: number, token: string) => {
  const body = `{"eventId":${eventId}}`;
  return (
    `POST /trpc/waitingRoom.enter HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  );
};

const statusText = (eventId: number) => {
  const path = `/trpc/waitingRoom.status?input=${encodeURIComponent(JSON.stringify({ eventId }))}`;
  return (token: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`;
};

export interface EnterResult {
  users: number;
  connections: number;
  wallMs: number;
  entriesPerSecond: number;
  /** From t0 (every entry is issued then) to its answer: what a user who clicked at t0 waits. */
  fromStartMs: Latency;
  /** From the request's write on its connection to the complete answer. */
  onWireMs: Latency;
  states: Record<string, number>;
  /** Answers other than 200 (by status) and socket errors. */
  failures: Record<string, number>;
  errorSamples: string[];
}

/**
 * Every user calls waitingRoom.enter at t0; requests wait in the pool's FIFO for one of its connections.
 * Also returns the users' indices in the order their answers came (about their order in line).
 */
export async function enterAll(
  pool: KeepAlivePool,
  users: RoomUser[],
  eventId: number,
  connections: number,
): Promise<{ result: EnterResult; order: number[] }> {
  const fromStart = new Samples();
  const onWire = new Samples();
  const states: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const errorSamples: string[] = [];
  const order: number[] = [];
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let left = users.length;
    for (const [i, u] of users.entries()) {
      pool.request(enterText(eventId, u.token), (err, status, body, sentAt) => {
        const at = performance.now();
        order.push(i);
        fromStart.push(at - t0);
        onWire.push(at - sentAt);
        const state = status === 200 ? stateOf(body) : null;
        if (state) states[state] = (states[state] ?? 0) + 1;
        else {
          const k = err ? 'socket error' : String(status);
          failures[k] = (failures[k] ?? 0) + 1;
          if (errorSamples.length < 5) errorSamples.push(err ? String(err) : `${status} ${body.slice(0, 300)}`);
        }
        if (--left === 0) resolve();
      });
    }
  });
  const wallMs = performance.now() - t0;
  const result = {
    users: users.length,
    connections,
    wallMs,
    entriesPerSecond: users.length / (wallMs / 1000),
    fromStartMs: latency(fromStart.values()),
    onWireMs: latency(onWire.values()),
    states,
    failures,
    errorSamples,
  };
  return { result, order };
}

export interface StormWindow {
  /** Seconds from the storm's start. */
  fromS: number;
  answersPerSecond: number;
  p50: number;
  p99: number;
  max: number;
}

export interface StormResult {
  users: number;
  seconds: number;
  thinkMs: number;
  connections: number;
  /** Answers completed within the storm's window (excluding the drain after it). */
  answers: number;
  answersPerSecond: number;
  /** The rate a closed loop of `users` with `thinkMs` between answer and next poll offers at zero latency. */
  offeredAtZeroLatency: number;
  perSecond: number[];
  /** Users still polling at each second's start (the closed loop's population: admitted users leave it). */
  pollingPerSecond: number[];
  /** Answers a closed loop of the users still polling would get at zero latency (polling / think time, summed over the seconds). */
  idealAnswers: number;
  windows: StormWindow[];
  /** From the moment a poll is due (THINK ms after the user's last answer) to its complete answer: what a user waits, including any wait for a connection. */
  fromDueMs: Latency;
  /** From the poll's write on its connection to the complete answer: the server's share. */
  onWireMs: Latency;
  /** Answers by state (every answer). */
  answerStates: Record<string, number>;
  /** Users by where they ended: still polling (WAITING), ADMITTED (stopped polling), lost their place (NOT_IN_LINE), … */
  userStates: Record<string, number>;
  failures: Record<string, number>;
  errorSamples: string[];
  /** Polls due but still waiting for a connection, sampled every second: the generator's backlog (0 while the api keeps up). */
  backlog: { max: number; atEnd: number; mean: number };
  /** The largest lateness of a poll's dispatch behind its due time (the generator's own timer lag). */
  maxDispatchLagMs: number;
  /** Polls answered after the window closed (in flight or queued at the end; counted in the latencies). */
  drained: number;
}

/**
 * The poll storm: each user's first poll is due at an evenly spread moment of the first thinkMs, in `order` (the
 * order they entered: the front of the line, waiting longest, polls first), each next poll thinkMs after the last answer. A WAITING answer keeps the user polling; ADMITTED, SOLD_OUT,
 * NOT_IN_LINE and CLOSED end it (an admitted user goes on to order; one who lost the place would enter again, which
 * this bench leaves out and counts). A failed poll is retried after thinkMs. Due polls sit in a FIFO (due times
 * only grow, as every answer's time + thinkMs does) and go to the pool when due.
 */
export async function pollStorm(
  pool: KeepAlivePool,
  users: RoomUser[],
  eventId: number,
  order: readonly number[],
  opts: {
    seconds: number;
    thinkMs: number;
    connections: number;
    drainMs: number;
    onSecond?: (second: number) => void;
    /** Called as the window closes, before the drain (the caller takes its end-of-window readings). */
    onWindowEnd?: () => Promise<void>;
    /** Poll again when a WAITING answer's pollAfterSeconds says, instead of thinkMs after it (the api's advice). */
    followAdvice?: boolean;
    /** The first polls are spread over this long, in entry order (default thinkMs). */
    firstSpreadMs?: number;
  },
): Promise<StormResult> {
  const n = users.length;
  const text = statusText(eventId);
  // The due polls, one FIFO per think time (due times only grow within each, as every answer's time + that think
  // time does); each user is in one of them at most once (or in flight). thinkOf: each user's current think time.
  const fifos = new Map<number, { users: number[]; dues: number[]; head: number }>();
  // Until a user's first answer, their think time is the first polls' spread (advised: the enter answer's advice).
  const thinkOf = new Float64Array(n).fill(opts.firstSpreadMs ?? opts.thinkMs);
  let queued = 0;
  /** What the users still polling would ask per second at zero latency, each at their own think time. */
  let askRate = n * (1000 / (opts.firstSpreadMs ?? opts.thinkMs));
  const push = (u: number, due: number, think = opts.thinkMs) => {
    let f = fifos.get(think);
    if (!f) fifos.set(think, (f = { users: [], dues: [], head: 0 }));
    f.users.push(u);
    f.dues.push(due);
    queued++;
  };
  /** The FIFO whose head falls due first, or null. */
  const earliest = () => {
    let best: { users: number[]; dues: number[]; head: number } | null = null;
    for (const f of fifos.values()) if (f.head < f.dues.length && (!best || f.dues[f.head]! < best.dues[best.head]!)) best = f;
    return best;
  };
  const adviceOf = (body: string): number | null => {
    const m = /"pollAfterSeconds":(\d+)/.exec(body);
    return m ? Number(m[1]) * 1000 : null;
  };
  const start = performance.now() + 20;
  const end = start + opts.seconds * 1000;
  const spread = opts.firstSpreadMs ?? opts.thinkMs;
  order.forEach((u, k) => push(u, start + (k * spread) / n));

  const fromDue = new Samples();
  const onWire = new Samples();
  const windowSamples: Samples[] = [];
  const perSecond = new Array<number>(Math.ceil(opts.seconds)).fill(0);
  const answerStates: Record<string, number> = {};
  const userStates: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const errorSamples: string[] = [];
  let answers = 0;
  let drained = 0;
  let inFlight = 0;
  let maxDispatchLagMs = 0;
  let stopped = 0;

  const poll = (u: number, due: number) => {
    inFlight++;
    pool.request(text(users[u]!.token), (err, status, body, sentAt) => {
      inFlight--;
      const at = performance.now();
      fromDue.push(at - due);
      onWire.push(at - sentAt);
      if (at <= end) {
        answers++;
        const sec = Math.floor((at - start) / 1000);
        if (sec >= 0 && sec < perSecond.length) perSecond[sec]!++;
        const w = Math.floor((at - start) / 5000);
        (windowSamples[w] ??= new Samples()).push(at - due);
      } else drained++;
      const state = status === 200 ? stateOf(body) : null;
      if (!state) {
        const k = err ? 'socket error' : String(status);
        failures[k] = (failures[k] ?? 0) + 1;
        if (errorSamples.length < 5) errorSamples.push(err ? String(err) : `${status} ${body.slice(0, 300)}`);
        if (at < end) push(u, at + thinkOf[u]!, thinkOf[u]);
        else userStates.WAITING = (userStates.WAITING ?? 0) + 1;
        return;
      }
      answerStates[state] = (answerStates[state] ?? 0) + 1;
      if (state === 'WAITING' && opts.followAdvice) {
        const think = adviceOf(body) ?? opts.thinkMs;
        askRate += 1000 / think - 1000 / thinkOf[u]!;
        thinkOf[u] = think;
      }
      if (state !== 'WAITING') askRate -= 1000 / thinkOf[u]!;
      if (state === 'WAITING' && at < end) push(u, at + thinkOf[u]!, thinkOf[u]);
      else {
        userStates[state] = (userStates[state] ?? 0) + 1;
        if (state !== 'WAITING') stopped++;
      }
    });
  };

  const backlog: number[] = [];
  const pollingPerSecond: number[] = [];
  const idealPerSecond: number[] = [];
  let lastSecond = -1;
  for (;;) {
    const now = performance.now();
    if (now >= end) break;
    for (let f = earliest(); f && f.dues[f.head]! <= now; f = earliest()) {
      const due = f.dues[f.head]!;
      maxDispatchLagMs = Math.max(maxDispatchLagMs, now - due);
      poll(f.users[f.head]!, due);
      f.head++;
      queued--;
      if (f.head > 4096 && f.head * 2 > f.dues.length) {
        f.users.splice(0, f.head);
        f.dues.splice(0, f.head);
        f.head = 0;
      }
    }
    const sec = Math.floor((now - start) / 1000);
    while (lastSecond < Math.min(sec, perSecond.length - 1)) {
      lastSecond++;
      backlog.push(pool.waiting);
      pollingPerSecond.push(n - stopped);
      idealPerSecond.push(askRate);
      opts.onSecond?.(lastSecond);
    }
    const head = earliest();
    const next = head ? head.dues[head.head]! : end;
    await sleep(Math.max(1, Math.min(next, end) - performance.now()));
  }
  const atEnd = pool.waiting;
  await opts.onWindowEnd?.();
  // Whoever is still due but not polled at the end is still waiting in line.
  const notPolled = queued;
  if (notPolled) userStates.WAITING = (userStates.WAITING ?? 0) + notPolled;
  const drainBy = performance.now() + opts.drainMs;
  while (inFlight > 0 && performance.now() < drainBy) await sleep(20);
  if (inFlight > 0) failures['unanswered at the end'] = inFlight;
  const seconds = opts.seconds;
  return {
    users: n,
    seconds,
    thinkMs: opts.thinkMs,
    connections: opts.connections,
    answers,
    answersPerSecond: answers / seconds,
    offeredAtZeroLatency: n / (opts.thinkMs / 1000),
    perSecond,
    pollingPerSecond,
    idealAnswers: opts.followAdvice ? idealPerSecond.reduce((a, r) => a + r, 0) : pollingPerSecond.reduce((a, p) => a + p / (opts.thinkMs / 1000), 0),
    windows: windowSamples.map((s, i) => {
      const l = summarize(s.values());
      const span = Math.min(5, seconds - i * 5);
      return { fromS: i * 5, answersPerSecond: s.length / span, p50: l.p50, p99: l.p99, max: l.max };
    }),
    fromDueMs: latency(fromDue.values()),
    onWireMs: latency(onWire.values()),
    answerStates,
    userStates,
    failures,
    errorSamples,
    backlog: { max: Math.max(0, ...backlog), atEnd, mean: backlog.reduce((a, b) => a + b, 0) / Math.max(1, backlog.length) },
    maxDispatchLagMs,
    drained,
  };
}
