import type { MachineInfo, RedisRates } from './env';
import type { ProfileSummary } from './cpuprofile';
import type { EnterResult, Latency, StormResult } from './room-load';
import type { PhaseUsage } from './sampler';
import { round } from './stats';

/** The waiting-room bench's report: Markdown for people, the same figures as JSON beside it. */

export const P99_TARGET_MS = 50;
export const ADMISSION_TOLERANCE = 0.05;

export interface AdmissionResult {
  configured: number;
  /** The room's admittedTotal at the storm's start and end. */
  atStart: number;
  atEnd: number;
  /** The window starts at opensAt (later than the storm's start) rather than at the storm's start. */
  fromOpening: boolean;
  seconds: number;
  achievedPerSecond: number;
  /** admittedTotal's growth over each second of the storm (read once a second). */
  perSecond: number[];
  /** Still in line, and admitted but unused, when the storm ended. */
  waitingAtEnd: number;
  activeAtEnd: number;
}

export interface RoomBenchResult {
  date: string;
  settings: {
    users: number;
    rate: number;
    seconds: number;
    thinkMs: number;
    connections: number;
    tokenTtlSeconds: number;
    apiPoolSize: number;
    openAfterSeconds: number;
    profile: boolean;
    /** Polls follow the answers' pollAfterSeconds (BENCH_ROOM_POLL=advised) instead of thinkMs. */
    followAdvice?: boolean;
  };
  machine: MachineInfo;
  eventId: number;
  maxActive: number;
  enter: EnterResult;
  enterCpu: PhaseUsage;
  storm: StormResult;
  stormCpu: PhaseUsage;
  admission: AdmissionResult;
  redis: RedisRates;
  profile: ProfileSummary | null;
  logs: { name: string; warn: number; error: number; messages: string[] }[];
  poolConnectionsOpened: number;
  dropped: string[];
}

const ms = (v: number) => (v >= 100 ? String(Math.round(v)) : String(round(v, 1)));
const lat = (l: Latency) => `${ms(l.p50)} / ${ms(l.p90)} / ${ms(l.p99)} / ${ms(l.p999)} / ${ms(l.max)}`;
const n0 = (v: number) => Math.round(v).toLocaleString('en');
const cpuOf = (u: PhaseUsage, name: string) => u.processes.find((p) => p.name === name);
const GENERATOR = 'bench (load generator)';

/** PASS / MISS lines, each with the figure and by how much it misses. */
export function verdicts(r: RoomBenchResult): { check: string; figure: string; verdict: string }[] {
  const s = r.storm;
  const p99 = s.fromDueMs.p99;
  const wire = s.onWireMs.p99;
  const a = r.admission;
  const dev = (a.achievedPerSecond - a.configured) / a.configured;
  const served = s.answers / Math.max(1, s.idealAnswers);
  const miss = (v: number) => `MISS by ${ms(v - P99_TARGET_MS)} ms (${round(v / P99_TARGET_MS, 1)}× the target)`;
  return [
    {
      check: `status p99 < ${P99_TARGET_MS} ms while serving the storm (from the poll's due time: what a user waits)`,
      figure: `${ms(p99)} ms`,
      verdict: p99 < P99_TARGET_MS ? 'PASS' : miss(p99),
    },
    {
      check: `status p99 < ${P99_TARGET_MS} ms on the wire (from the request's write on a connection: the api's share)`,
      figure: `${ms(wire)} ms`,
      verdict: wire < P99_TARGET_MS ? 'PASS' : miss(wire),
    },
    {
      check: `the storm is served: answers ≥ 95% of what the closed loop asks at zero latency (${r.settings.followAdvice ? 'each user still polling at their advised interval' : `users still polling / ${r.settings.thinkMs / 1000} s`})`,
      figure: `${n0(s.answersPerSecond)}/s, ${round(served * 100)}% of ${n0(s.idealAnswers / s.seconds)}/s`,
      verdict: served >= 0.95 ? 'PASS' : `MISS: ${round((1 - served) * 100)}% of the polls never happened (the loop slowed down with the api)`,
    },
    {
      check: `admission within ±${ADMISSION_TOLERANCE * 100}% of ${a.configured}/s over the storm`,
      figure: `${round(a.achievedPerSecond)}/s (${dev >= 0 ? '+' : ''}${round(dev * 100)}%)`,
      verdict:
        a.seconds < 5
          ? `NOT MEASURED: the room was open for only ${round(a.seconds, 1)} s of the storm (BENCH_ROOM_OPEN_AFTER_SECONDS, BENCH_ROOM_SECONDS)`
          : Math.abs(dev) <= ADMISSION_TOLERANCE
            ? 'PASS'
            : a.waitingAtEnd === 0 && dev < 0
              ? 'NOT MEASURED: the line ran out before the storm ended (too few users for this rate)'
              : `MISS by ${round((Math.abs(dev) - ADMISSION_TOLERANCE) * 100)} points`,
    },
    {
      check: 'every user got WAITING (or ADMITTED) from enter',
      figure: `${n0((r.enter.states.WAITING ?? 0) + (r.enter.states.ADMITTED ?? 0))} of ${n0(r.enter.users)}`,
      verdict: (r.enter.states.WAITING ?? 0) + (r.enter.states.ADMITTED ?? 0) === r.enter.users ? 'PASS' : 'MISS',
    },
  ];
}

/** What bounds the storm, read off the same run: each process's CPU, the generator's share, api-1's profile. */
function bound(r: RoomBenchResult): string[] {
  const u = r.stormCpu;
  const s = r.storm;
  const apis = u.processes.filter((p) => p.name.startsWith('api-'));
  const apiCpu = apis.reduce((n, p) => n + p.cpuPct, 0);
  const gen = cpuOf(u, GENERATOR);
  const redis = cpuOf(u, 'redis-server');
  const sched = cpuOf(u, 'scheduler');
  const allCpu = u.machineBusyPct * u.cores;
  const perAnswer = s.answersPerSecond > 0 ? (apiCpu / 100 / s.answersPerSecond) * 1000 : 0;
  const genPerAnswer = gen && s.answersPerSecond > 0 ? (gen.cpuPct / 100 / s.answersPerSecond) * 1000 : 0;
  const prof = r.profile;
  const owners = prof ? prof.byOwner.slice(0, 5).map((o) => `${o.name} ${round(o.pct)}%`) : [];
  const fns = prof ? prof.topFunctions.slice(0, 5).map((f) => `\`${f.name}\` ${round(f.pct)}%`) : [];
  const saturated = u.machineBusyPct >= 90;
  const genBound = !!gen && gen.cpuPct >= 90;
  const apiBound = apis.some((p) => p.cpuPct >= 90);
  const lines = [
    '## What bounds it',
    '',
    `- The machine was **${round(u.machineBusyPct)}% busy** over its ${u.cores} cores during the storm (${round(allCpu)}% of a core in all): ` +
      `api ${apis.map((p) => `${p.name} ${round(p.cpuPct)}%`).join(', ')} (${round(apiCpu)}% together), ` +
      `the generator ${round(gen?.cpuPct ?? 0)}%, redis-server ${round(redis?.cpuPct ?? 0)}%, the scheduler ${round(sched?.cpuPct ?? 0)}%, ` +
      `everything else (other tenants of this shared machine, the kernel) ${round(u.otherCpuPct)}%.` +
      (saturated ? ' Both cores were full: every process here competes for the same CPU, so the api got what the generator and Redis left.' : ''),
    `- Per status answer the two apis spent **${round(perAnswer, 3)} CPU-ms** (${n0(s.answersPerSecond)} answers/s); the generator spent ${round(genPerAnswer, 3)} CPU-ms ` +
      `(${round((100 * (gen?.cpuPct ?? 0)) / Math.max(1, allCpu))}% of all the CPU the machine spent). ` +
      `Redis ran ${n0(r.redis.commandsPerSec)} commands/s (${r.redis.top
        .slice(0, 3)
        .map((t) => `${t.command} ${n0(t.callsPerSec)}/s at ${t.usecPerCall} µs`)
        .join(', ')}).`,
    genBound
      ? `- **The generator itself is CPU-bound**: it used ${round(gen.cpuPct)}% of a core (peak ${round(gen.cpuPeakPct)}%), so the poll rate it offered, and the latencies it measured, are partly its own limit, not only the api's.`
      : `- The generator is not CPU-bound (${round(gen?.cpuPct ?? 0)}% of a core, peak ${round(gen?.cpuPeakPct ?? 0)}%; its timer lag behind due polls peaked at ${ms(s.maxDispatchLagMs)} ms).`,
    apiBound
      ? `- An api process was at or near a full core (${apis.map((p) => `${p.name} peak ${round(p.cpuPeakPct)}%`).join(', ')}): the event loop is the queue, and the latency above is its wait.`
      : saturated
        ? '- No api process was at a full core on its own: with both cores full they were short of CPU, not held up by one event loop, so more apis would not help here; fewer CPU-ms per answer (or more cores) would.'
        : '- No api process was at a full core on its own.',
    ...(s.answers < 0.95 * s.idealAnswers && perAnswer > 0
      ? [
          `- To answer every poll as it falls due (${n0(s.idealAnswers / s.seconds)}/s on average) at ${round(perAnswer, 3)} CPU-ms each, the apis alone would need ` +
            `~${round(((s.idealAnswers / s.seconds) * perAnswer) / 1000, 1)} cores; this machine has ${u.cores}, shared with Redis and the generator. ` +
            `Each user's poll cycle stretched from ${r.settings.thinkMs / 1000} s to ~${round((r.settings.thinkMs + s.fromDueMs.p50) / 1000, 1)} s, so the api served ~${n0(s.answersPerSecond)}/s instead.`,
        ]
      : []),
    ...(s.backlog.max > 0 && s.answersPerSecond > 0
      ? [
          `- With all ${r.settings.connections} connections busy, the on-the-wire latency is the connections over the throughput (Little's law: ${ms((r.settings.connections / s.answersPerSecond) * 1000)} ms on average, measured p50 ${ms(s.onWireMs.p50)} ms): ` +
            "it shows the generator's concurrency as much as the api; the latency from the due time is the one a polling user sees.",
        ]
      : []),
    s.backlog.max > 0
      ? `- The generator's backlog (polls due but waiting for one of its ${r.settings.connections} connections) peaked at ${n0(s.backlog.max)} (mean ${n0(s.backlog.mean)}): the apis answered slower than polls fell due, so the wait moved into the generator's queue; the latency from the due time counts it, the on-the-wire figure does not.`
      : `- Polls never waited for a connection (backlog 0): every poll went out when due.`,
    ...(prof
      ? [
          `- api-1's profile over the storm (${round(prof.busyPct)}% of a core busy on its main thread): by owner ${owners.join(', ')}; top functions ${fns.join(', ')}.`,
          ...(prof.nativeByCaller.length
            ? [
                `  The largest native frames with their callers: ${prof.nativeByCaller
                  .slice(0, 3)
                  .map((o) => `${o.name} ${round(o.pct)}%`)
                  .join('; ')} (writeUtf8String is the socket write: on loopback the sender's write syscall also runs the receiving side's TCP work).`,
              ]
            : []),
        ]
      : ['- No profile (BENCH_PROFILE=0).']),
    `- This VM's speed drifts by ±30% between runs; the CPU figures above are of this run, so a miss can be compared against them rather than against another day's numbers.`,
    '',
  ];
  return lines;
}

export function renderRoomReport(r: RoomBenchResult): string {
  const s = r.storm;
  const e = r.enter;
  const a = r.admission;
  const perSec = a.perSecond.length ? [...a.perSecond].sort((x, y) => x - y) : [0];
  const med = perSec[Math.floor(perSec.length / 2)] ?? 0;
  const lines = [
    `# Waiting room under a poll storm${r.settings.followAdvice ? ', clients following the poll advice' : ''} — ${r.date.slice(0, 10)}`,
    '',
    `${n0(r.settings.users)} customers enter waiting-room event ${r.eventId} at once, then poll \`waitingRoom.status\` ${r.settings.followAdvice ? "when each WAITING answer's `pollAfterSeconds` says (a fifth of the wait, from 2 s to a third of WAITING_ROOM_ABANDON_SECONDS: BENCH_ROOM_POLL=advised)" : `${r.settings.thinkMs / 1000} s after each answer`} for ${r.settings.seconds} s, ` +
      `through 2 api processes (a port each, RATE_LIMITS=off) with 1 scheduler running the admission loop at ${r.settings.rate}/s (WAITING_ROOM_TICK_MS default 50). ` +
      `The event opens ${r.settings.openAfterSeconds} s after its creation (a little after the entries are done; not at once, or the room admits the front of the line while those users' polls still queue behind the entries, and skips them as abandoned after WAITING_ROOM_ABANDON_SECONDS: a run that opened as the entries ended, with it at 30 s, lost 5,967 of the first entrants so); tokens live ${r.settings.tokenTtlSeconds} s, maxActive ${n0(r.maxActive)} (the default: no limit beyond the rate); stock 1,000,000 (never sold out).`,
    `The generator is this process: ${r.settings.connections} keep-alive connections (half to each api), a lean HTTP/1.1 client over node:net (bench/lib/room-http.ts), requests beyond the connections wait in its FIFO. ` +
      `The storm's first polls are spread over its first ${r.settings.followAdvice ? 'longest advice (a third of WAITING_ROOM_ABANDON_SECONDS)' : `${r.settings.thinkMs / 1000} s`} in the order the users entered. Admitted users stop polling; NOT_IN_LINE, SOLD_OUT or CLOSED end a user's loop too (counted). Latency "from due" runs from the moment a poll falls due (${r.settings.followAdvice ? 'the advised pollAfterSeconds' : `${r.settings.thinkMs / 1000} s`} after the user's last answer) to its complete body, the wait for a connection included; "on the wire" from its write on a connection.`,
    `Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), Node ${r.machine.node}, MariaDB ${r.machine.mysqlVersion}, Redis ${r.machine.redisVersion}.`,
    '',
    '## Verdicts',
    '',
    '| check | figure | verdict |',
    '|---|---:|---|',
    ...verdicts(r).map((v) => `| ${v.check} | ${v.figure} | ${v.verdict} |`),
    '',
    '## Entering at once',
    '',
    '| users | wall | entries/s | from t0 p50 / p90 / p99 / p99.9 / max ms | on the wire p50 / p90 / p99 / p99.9 / max ms | states | failures |',
    '|---:|---:|---:|---:|---:|---|---|',
    `| ${n0(e.users)} | ${round(e.wallMs / 1000, 2)} s | **${n0(e.entriesPerSecond)}** | ${lat(e.fromStartMs)} | ${lat(e.onWireMs)} | ${Object.entries(e.states)
      .map(([k, v]) => `${k} ${n0(v)}`)
      .join(', ')} | ${
      Object.entries(e.failures)
        .map(([k, v]) => `${k} ${n0(v)}`)
        .join(', ') || 'none'
    } |`,
    '',
    ...(e.errorSamples.length ? [`Failures seen: ${e.errorSamples.map((x) => `\`${x.replace(/\|/g, '\\|')}\``).join('; ')}`, ''] : []),
    '## The poll storm',
    '',
    `**${n0(s.answersPerSecond)} status answers/s** on average over ${s.seconds} s (${n0(s.answers)} answers; ${n0(s.drained)} more answered in the drain after the window). ` +
      `At zero latency the closed loop would ask ${n0(s.idealAnswers / s.seconds)}/s on average (${r.settings.followAdvice ? 'each user still polling at their advised interval' : `users still polling / ${r.settings.thinkMs / 1000} s`}; ${n0(s.pollingPerSecond[0] ?? 0)} polling at the start, ${n0(s.pollingPerSecond.at(-1) ?? 0)} at the end).`,
    '',
    '| latency | p50 | p90 | p99 | p99.9 | max |',
    '|---|---:|---:|---:|---:|---:|',
    `| from due (what a user waits) | ${ms(s.fromDueMs.p50)} | ${ms(s.fromDueMs.p90)} | **${ms(s.fromDueMs.p99)}** | ${ms(s.fromDueMs.p999)} | ${ms(s.fromDueMs.max)} |`,
    `| on the wire | ${ms(s.onWireMs.p50)} | ${ms(s.onWireMs.p90)} | ${ms(s.onWireMs.p99)} | ${ms(s.onWireMs.p999)} | ${ms(s.onWireMs.max)} |`,
    '',
    '| window | answers/s | from due p50 / p99 / max ms |',
    '|---|---:|---:|',
    ...s.windows.map((w) => `| ${w.fromS}–${Math.min(s.seconds, w.fromS + 5)} s | ${n0(w.answersPerSecond)} | ${ms(w.p50)} / ${ms(w.p99)} / ${ms(w.max)} |`),
    '',
    `Answers by state: ${Object.entries(s.answerStates)
      .map(([k, v]) => `${k} ${n0(v)}`)
      .join(', ')}. Users at the end: ${Object.entries(s.userStates)
      .map(([k, v]) => `${k} ${n0(v)}`)
      .join(', ')}. ` +
      `Failures: ${
        Object.entries(s.failures)
          .map(([k, v]) => `${k} ${n0(v)}`)
          .join(', ') || 'none'
      }${s.errorSamples.length ? ` (${s.errorSamples.map((x) => `\`${x.replace(/\|/g, '\\|')}\``).join('; ')})` : ''}. ` +
      `Generator backlog (due, waiting for a connection): max ${n0(s.backlog.max)}, mean ${n0(s.backlog.mean)}, ${n0(s.backlog.atEnd)} at the end; its timer lag peaked at ${ms(s.maxDispatchLagMs)} ms. ` +
      `TCP connections opened: ${n0(r.poolConnectionsOpened)} for a pool of ${n0(r.settings.connections)}.`,
    '',
    '## Admission',
    '',
    `The room's admittedTotal went from ${n0(a.atStart)} to ${n0(a.atEnd)} over ${round(a.seconds, 1)} s (${a.fromOpening ? "from opensAt, which came after the storm's start," : "the storm's start"} to its end): **${round(a.achievedPerSecond, 1)} admitted/s** against the configured ${a.configured}/s ` +
      `(per second: min ${n0(perSec[0] ?? 0)}, median ${n0(med)}, max ${n0(perSec.at(-1) ?? 0)}). ` +
      `At the end ${n0(a.waitingAtEnd)} were still in line and ${n0(a.activeAtEnd)} admitted and unused; the generator saw ${n0(s.answerStates.ADMITTED ?? 0)} ADMITTED answers` +
      `${s.userStates.NOT_IN_LINE ? ` and ${n0(s.userStates.NOT_IN_LINE)} users who lost their place (not seen for WAITING_ROOM_ABANDON_SECONDS when their turn came)` : ''}.`,
    '',
    ...bound(r),
    '## CPU and memory',
    '',
    '| phase | process | CPU % of a core (avg / peak) | RSS MB (avg / max) |',
    '|---|---|---:|---:|',
    ...[
      ['enter', r.enterCpu],
      ['storm', r.stormCpu],
    ].flatMap(([name, u]) =>
      (u as PhaseUsage).processes.map(
        (p) => `| ${name as string} | ${p.name} | ${round(p.cpuPct)} / ${round(p.cpuPeakPct)} | ${round(p.rssAvgMb)} / ${round(p.rssMaxMb)} |`,
      ),
    ),
    '',
    `- enter: the machine ${round(r.enterCpu.machineBusyPct)}% busy over ${r.enterCpu.cores} cores (${round(r.enterCpu.seconds, 1)} s); other processes ${round(r.enterCpu.otherCpuPct)}% of a core.`,
    `- storm: the machine ${round(r.stormCpu.machineBusyPct)}% busy over ${r.stormCpu.cores} cores (${round(r.stormCpu.seconds, 1)} s); other processes ${round(r.stormCpu.otherCpuPct)}% of a core.`,
    '',
    '## Redis during the storm',
    '',
    `${n0(r.redis.commandsPerSec)} commands/s, ${r.redis.usedMemoryMb} MB used.`,
    '',
    '| command | calls/s | µs per call | Redis busy % |',
    '|---|---:|---:|---:|',
    ...r.redis.top.map((t) => `| ${t.command} | ${n0(t.callsPerSec)} | ${t.usecPerCall} | ${t.busyPct} |`),
    '',
    ...(r.profile
      ? [
          `## Where ${r.profile.label} spent its CPU (${round(r.profile.busyPct)}% of a core busy over ${round(r.profile.windowMs / 1000)} s)`,
          '',
          '| owner (package whose code is on the stack) | share of busy samples |',
          '|---|---:|',
          ...r.profile.byOwner.slice(0, 10).map((o) => `| ${o.name} | ${round(o.pct)}% |`),
          '',
          '| function | where | share |',
          '|---|---|---:|',
          ...r.profile.topFunctions.slice(0, 12).map((f) => `| \`${f.name}\` | ${f.where} | ${round(f.pct)}% |`),
          '',
          '| Node-internal / native frame ← its npm or workspace caller | share |',
          '|---|---:|',
          ...r.profile.nativeByCaller.map((o) => `| ${o.name.replace(/\|/g, '\\|')} | ${round(o.pct)}% |`),
          '',
        ]
      : []),
    '## Logs',
    '',
    ...r.logs.map(
      (l) => `- ${l.name}: ${l.warn} warnings, ${l.error} errors${l.messages.length ? ` (${l.messages.slice(0, 3).join('; ').replace(/\|/g, '\\|')})` : ''}.`,
    ),
    ...(r.dropped.length ? [`- Clean-up: ${r.dropped.join('; ')}.`] : ['- Clean-up: database dropped and every key of the run deleted.']),
    '',
    `Settings: ${Object.entries(r.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')} (BENCH_ROOM_*; BENCH_PROFILE=0 turns the profile off).`,
    '',
  ];
  return lines.join('\n');
}
