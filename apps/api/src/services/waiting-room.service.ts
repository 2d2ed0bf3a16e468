import { TRPCError } from '@trpc/server';
import { ProductStatus, Role, WAITING_ROOM_LIMITS, type WaitingRoomCreateInput, type WaitingRoomEventView, type WaitingRoomStatus } from '@bazaar/contracts';
import type { CatalogRepository, WaitingRoomEventRecord, WaitingRoomRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
import { materializeRoom, type SoldOutGate, type WaitingRoomStore } from '@bazaar/queue';
import { badField } from '../errors';
import type { AdmissionTokens } from './admission-tokens';

/**
 * waitingRoom.*: events in MySQL (the truth), each event's line in Redis (WaitingRoomStore), its products marked
 * in the sold-out gate's slot so the gate script refuses an order without the event's token. Admission itself is
 * the scheduler's loop (one runner at a time); this service enters callers, answers their status and signs the
 * token of whoever the loop admitted.
 */
export class WaitingRoomService {
  constructor(
    private readonly events: WaitingRoomRepository,
    private readonly catalog: CatalogRepository,
    private readonly rooms: WaitingRoomStore,
    private readonly gate: SoldOutGate,
    private readonly tokens: AdmissionTokens,
    /** A waiting caller not seen for this long loses the place (WAITING_ROOM_ABANDON_SECONDS): the poll advice stays well below it. */
    private readonly abandonAfterSeconds = 60,
  ) {}

  async createEvent(
    user: { userId: number; role: Role },
    input: WaitingRoomCreateInput,
    log: Logger,
  ): Promise<{ eventId: number; event: WaitingRoomEventView }> {
    for (const [i, productId] of input.productIds.entries()) {
      const p = await this.catalog.findProduct(productId);
      if (!p || p.status === ProductStatus.DELETED) throw badField(['productIds', i], `no product ${productId}`);
      if (user.role !== Role.ADMIN) {
        const store = await this.catalog.findStore(p.storeId);
        if (store?.sellerId !== user.userId) throw new TRPCError({ code: 'FORBIDDEN', message: `product ${productId} is not from one of your stores` });
      }
    }
    const opensAt = new Date(input.opensAt);
    const closesAt = input.closesAt ? new Date(input.closesAt) : new Date(opensAt.getTime() + WAITING_ROOM_LIMITS.defaultDurationSeconds * 1000);
    const tokenTtlSeconds = input.tokenTtlSeconds ?? WAITING_ROOM_LIMITS.defaultTokenTtlSeconds;
    const record = {
      createdBy: user.userId,
      productIds: [...input.productIds].sort((a, b) => a - b),
      opensAt,
      closesAt,
      admitPerSecond: input.admitPerSecond,
      maxActive: input.maxActive ?? Math.min(WAITING_ROOM_LIMITS.maxActive, input.admitPerSecond * tokenTtlSeconds),
      tokenTtlSeconds,
    };
    const created = await this.events.create(record);
    if ('overlaps' in created) {
      const o = created.overlaps[0]!;
      throw new TRPCError({ code: 'CONFLICT', message: `product ${o.productId} is in waiting-room event ${o.eventId} over an overlapping window` });
    }
    const event = { id: created.id, ...record };
    await materializeRoom(this.rooms, this.gate, event);
    log.info({ eventId: event.id, productIds: event.productIds, opensAt: input.opensAt, admitPerSecond: event.admitPerSecond }, 'waiting-room event created');
    return { eventId: event.id, event: await this.view(event) };
  }

  async get(eventId: number): Promise<WaitingRoomEventView> {
    const e = await this.events.find(eventId);
    if (!e) throw new TRPCError({ code: 'NOT_FOUND', message: `no waiting-room event ${eventId}` });
    return this.view(e);
  }

  /** waitingRoom.enter: a ticket at the end of the line, once (entering again keeps the place). */
  enter(userId: number, eventId: number): Promise<WaitingRoomStatus> {
    return this.look(userId, eventId, true);
  }

  /** waitingRoom.status: the place in line, or the admission token once admitted. */
  status(userId: number, eventId: number): Promise<WaitingRoomStatus> {
    return this.look(userId, eventId, false);
  }

  private async look(userId: number, eventId: number, enter: boolean, again = true): Promise<WaitingRoomStatus> {
    const l = await this.rooms.look(eventId, userId, enter);
    switch (l.state) {
      case 'WAITING': {
        const position = l.rank + 1;
        const untilOpen = Math.max(0, l.opensAtMs - l.nowMs) / 1000;
        const etaSeconds = Math.ceil(untilOpen + position / l.admitPerSecond);
        return { state: 'WAITING', position, etaSeconds, pollAfterSeconds: pollAdvice(etaSeconds, this.abandonAfterSeconds) };
      }
      case 'ADMITTED': {
        const admissionToken = this.tokens.sign({ eventId, userId, ticket: l.ticket, expiresAtMs: l.expiresAtMs });
        return { state: 'ADMITTED', position: 0, admissionToken, expiresAt: new Date(l.expiresAtMs).toISOString() };
      }
      case 'NO_ROOM': {
        // Redis lost the room (or never had it): rebuild it from MySQL, once.
        const e = await this.events.find(eventId);
        if (!e) throw new TRPCError({ code: 'NOT_FOUND', message: `no waiting-room event ${eventId}` });
        if (e.closesAt.getTime() <= Date.now()) return { state: 'CLOSED' };
        if (!again) throw new Error(`waiting room ${eventId} could not be rebuilt in Redis`);
        await materializeRoom(this.rooms, this.gate, e);
        return this.look(userId, eventId, enter, false);
      }
      default:
        return { state: l.state };
    }
  }

  private async view(e: WaitingRoomEventRecord): Promise<WaitingRoomEventView> {
    const c = await this.rooms.counts(e.id);
    const now = Date.now();
    const state = e.closesAt.getTime() <= now ? 'CLOSED' : c.state === 'SOLD_OUT' ? 'SOLD_OUT' : e.opensAt.getTime() > now ? 'SCHEDULED' : 'OPEN';
    return {
      id: e.id,
      productIds: e.productIds,
      opensAt: e.opensAt.toISOString(),
      closesAt: e.closesAt.toISOString(),
      admitPerSecond: e.admitPerSecond,
      maxActive: e.maxActive,
      tokenTtlSeconds: e.tokenTtlSeconds,
      state,
      waiting: c.waiting,
      admitted: c.admittedTotal,
    };
  }
}

/**
 * When a waiting caller should poll again: a fifth of the wait, at least 2 s, and at most a third of the abandon
 * time (three polls may go missing before the place is lost). Those far back poll rarely, those near the front
 * often, so a line of 100,000 asks the api for a fraction of what everyone polling every 2 s would.
 */
export function pollAdvice(etaSeconds: number, abandonAfterSeconds: number): number {
  const most = Math.max(2, Math.floor(abandonAfterSeconds / 3));
  return Math.min(most, Math.max(2, Math.ceil(etaSeconds / 5)));
}
