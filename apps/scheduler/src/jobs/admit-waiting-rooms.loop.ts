import { randomUUID } from 'node:crypto';
import type { WaitingRoomEventRecord, WaitingRoomRepository } from '@bazaar/db';
import type { Logger, Metrics, RedisKeys, Redis } from '@bazaar/platform';
import { materializeRoom, type SoldOutGate, type WaitingRoomStore } from '@bazaar/queue';

/** Take the lease if nobody holds it, or extend it if we do (KEYS[1] lease, ARGV holder, ms). */
const LEASE_LUA = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
`;

export interface AdmitLoopOptions {
  tickMs: number;
  abandonAfterMs: number;
  /** How often the events are re-read from MySQL (new events, and Redis state lost and rebuilt). */
  syncMs?: number;
  /** Token uses taken from an event's log per step. */
  maxUsesPerTick?: number;
  /** Line entries looked at per step (abandoned ones are skipped over). */
  maxScan?: number;
  /** A failed step's error, for on-call (ErrorNotifier.report). */
  notify?: (err: unknown) => void;
}

/**
 * The waiting rooms' admission loop. Every scheduler replica runs it; a lease in Redis lets one step at a time
 * (renewed each step, so a killed runner is replaced within the lease, ~10 steps). Each step, per unclosed event:
 * ask the gate whether the event's products are sold out and take the token uses it logged (one script in the
 * gate's slot), then one admission step in the event's slot (WaitingRoomStore.tick). Each step is atomic in Redis
 * and paced by Redis's clock and the room's own credit, so even two runners at once (a runner paused past its
 * lease) admit at the rate, first come first, never above maxActive and nobody twice.
 */
export class AdmitWaitingRoomsLoop {
  static readonly NAME = 'waiting-room-admit';
  private readonly holder = `${process.pid}-${randomUUID()}`;
  private readonly leaseMs: number;
  private events: WaitingRoomEventRecord[] = [];
  private syncedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private leader = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly repo: WaitingRoomRepository,
    private readonly rooms: WaitingRoomStore,
    private readonly gate: SoldOutGate,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly opts: AdmitLoopOptions,
  ) {
    this.leaseMs = Math.max(1_000, opts.tickMs * 10);
    if (!('roomLease' in redis)) redis.defineCommand('roomLease', { numberOfKeys: 1, lua: LEASE_LUA });
  }

  start(): void {
    const next = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.running = this.step().finally(next);
      }, this.opts.tickMs);
    };
    next();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One step: under the lease, every unclosed event once. Errors are logged and counted; the next step retries. */
  async step(): Promise<void> {
    try {
      const lease = this.redis as Redis & { roomLease(key: string, holder: string, ms: number): Promise<number> };
      const held = (await lease.roomLease(this.keys.cronLease(AdmitWaitingRoomsLoop.NAME), this.holder, this.leaseMs)) === 1;
      if (held !== this.leader)
        this.log.info({ leader: held }, held ? 'admission loop: running the waiting rooms' : 'admission loop: another scheduler runs the waiting rooms');
      this.leader = held;
      if (!held) {
        // Only the runner reports the rooms' gauges (a former runner's would go stale).
        for (const g of [this.metrics.roomWaiting, this.metrics.roomActive, this.metrics.roomSoldOut, this.metrics.roomAdmitting]) g.reset();
        return;
      }
      await this.sync();
      for (const e of this.events) await this.admit(e);
    } catch (err) {
      this.metrics.roomTickErrors.inc();
      this.log.error({ err }, 'admission loop step failed');
      this.opts.notify?.(err);
    }
  }

  private async sync(): Promise<void> {
    const now = Date.now();
    if (now - this.syncedAt < (this.opts.syncMs ?? 5_000)) {
      this.events = this.events.filter((e) => e.closesAt.getTime() > now);
      return;
    }
    this.events = await this.repo.unclosed(new Date(now));
    this.syncedAt = now;
    for (const e of this.events) await this.materialize(e);
  }

  private async materialize(e: WaitingRoomEventRecord): Promise<void> {
    if (await materializeRoom(this.rooms, this.gate, e)) {
      this.log.warn({ eventId: e.id }, 'waiting room was missing in Redis; re-created from MySQL (the line starts empty)');
    }
  }

  private async admit(e: WaitingRoomEventRecord): Promise<void> {
    const event = String(e.id);
    const poll = await this.gate.pollRoom(e.id, e.productIds, this.opts.maxUsesPerTick ?? 1_000);
    const t = await this.rooms.tick(e.id, poll.soldOut, this.opts.abandonAfterMs, this.opts.maxScan ?? 5_000, poll.used);
    if (!t) {
      // Redis lost the room: re-create it (and the gate's marks) now rather than at the next sync.
      await this.materialize(e);
      return;
    }
    if (t.admitted > 0) this.metrics.roomAdmitted.inc({ event }, t.admitted);
    if (t.used > 0) this.metrics.roomTokens.inc({ event, outcome: 'used' }, t.used);
    if (t.expired > 0) this.metrics.roomTokens.inc({ event, outcome: 'expired' }, t.expired);
    if (t.abandoned > 0) this.metrics.roomTokens.inc({ event, outcome: 'abandoned' }, t.abandoned);
    this.metrics.roomWaiting.set({ event }, t.waiting);
    this.metrics.roomActive.set({ event }, t.active);
    this.metrics.roomSoldOut.set({ event }, t.state === 'SOLD_OUT' ? 1 : 0);
    const open = t.state === 'OPEN' && e.opensAt.getTime() <= Date.now();
    this.metrics.roomAdmitting.set({ event }, open && t.waiting > 0 && t.active < e.maxActive ? 1 : 0);
    if (t.state === 'CLOSED') {
      for (const g of [this.metrics.roomWaiting, this.metrics.roomActive, this.metrics.roomSoldOut, this.metrics.roomAdmitting]) g.remove({ event });
    }
  }
}
