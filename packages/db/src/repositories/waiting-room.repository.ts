import type { DataSource } from 'typeorm';
import { execute, inRetryingTransaction, selectRows } from '../data-source';

/** A waiting-room event as stored (waitingRoom.createEvent). */
export interface WaitingRoomEventRecord {
  id: number;
  createdBy: number;
  productIds: number[];
  opensAt: Date;
  closesAt: Date;
  admitPerSecond: number;
  maxActive: number;
  tokenTtlSeconds: number;
}

export type NewWaitingRoomEvent = Omit<WaitingRoomEventRecord, 'id'>;

/** The products an event would cover that another event already covers in an overlapping window. */
export interface EventOverlap {
  productId: number;
  eventId: number;
}

type EventRow = {
  id: number | string;
  created_by: number | string;
  opens_at: Date;
  closes_at: Date;
  admit_per_second: number | string;
  max_active: number | string;
  token_ttl_seconds: number | string;
  product_ids: string | null;
};

const SELECT_EVENTS = `SELECT e.id, e.created_by, e.opens_at, e.closes_at, e.admit_per_second, e.max_active, e.token_ttl_seconds,
         (SELECT GROUP_CONCAT(p.product_id ORDER BY p.product_id) FROM waiting_room_event_products p WHERE p.event_id = e.id) product_ids
  FROM waiting_room_events e`;

function toRecord(r: EventRow): WaitingRoomEventRecord {
  return {
    id: Number(r.id),
    createdBy: Number(r.created_by),
    productIds: (r.product_ids ?? '').split(',').filter(Boolean).map(Number),
    opensAt: r.opens_at,
    closesAt: r.closes_at,
    admitPerSecond: Number(r.admit_per_second),
    maxActive: Number(r.max_active),
    tokenTtlSeconds: Number(r.token_ttl_seconds),
  };
}

/** Waiting-room events in MySQL (the truth); their lines live in Redis. Reads from the primary: they are few and rare. */
export class WaitingRoomRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * Records an event, unless one of its products is in another event whose window overlaps (then nothing is
   * written and the overlaps are returned). The products' rows are locked first, in id order, so two creates for
   * the same product cannot both pass the overlap check.
   */
  create(e: NewWaitingRoomEvent): Promise<{ id: number } | { overlaps: EventOverlap[] }> {
    const ids = [...e.productIds].sort((a, b) => a - b);
    return inRetryingTransaction(this.ds, async (q) => {
      await selectRows(q, `SELECT id FROM products WHERE id IN (${ids.map(() => '?').join(',')}) ORDER BY id FOR UPDATE`, ids);
      const overlaps = await selectRows<{ product_id: number | string; event_id: number | string }>(
        q,
        `SELECT p.product_id, p.event_id FROM waiting_room_event_products p JOIN waiting_room_events e ON e.id = p.event_id
         WHERE p.product_id IN (${ids.map(() => '?').join(',')}) AND e.opens_at < ? AND e.closes_at > ? ORDER BY p.product_id`,
        [...ids, e.closesAt, e.opensAt],
      );
      if (overlaps.length > 0) return { overlaps: overlaps.map((o) => ({ productId: Number(o.product_id), eventId: Number(o.event_id) })) };
      const r = await execute(
        q,
        `INSERT INTO waiting_room_events (created_by, opens_at, closes_at, admit_per_second, max_active, token_ttl_seconds) VALUES (?, ?, ?, ?, ?, ?)`,
        [e.createdBy, e.opensAt, e.closesAt, e.admitPerSecond, e.maxActive, e.tokenTtlSeconds],
      );
      await execute(
        q,
        `INSERT INTO waiting_room_event_products (event_id, product_id) VALUES ${ids.map(() => '(?, ?)').join(', ')}`,
        ids.flatMap((p) => [r.insertId, p]),
      );
      return { id: r.insertId };
    });
  }

  async find(eventId: number): Promise<WaitingRoomEventRecord | null> {
    const [row] = await selectRows<EventRow>(this.ds, `${SELECT_EVENTS} WHERE e.id = ?`, [eventId]);
    return row ? toRecord(row) : null;
  }

  /** Events not yet closed at `now` (upcoming ones too), for the admission loop. */
  async unclosed(now: Date, limit = 1000): Promise<WaitingRoomEventRecord[]> {
    const rows = await selectRows<EventRow>(this.ds, `${SELECT_EVENTS} WHERE e.closes_at > ? ORDER BY e.id LIMIT ${Number(limit)}`, [now]);
    return rows.map(toRecord);
  }
}
