import type { FastifyReply, FastifyRequest } from 'fastify';
import { Role, waitingRoomEventInput } from '@bazaar/contracts';
import type { Metrics } from '@bazaar/platform';
import type { RateLimits } from '../services/rate-limits';
import type { SessionService } from '../services/session.service';
import type { WaitingRoomService } from '../services/waiting-room.service';
import { fastPathLimit } from './fast-path-limit';
import { isStreamRequest } from './stream-request';
import { writeJson } from './write-json';

const PROCEDURE = 'waitingRoom.status';
const PATH = `/trpc/${PROCEDURE}`;

/**
 * waitingRoom.status without the tRPC adapter's per-request cost, same bytes on the wire: the poll storm of a
 * flash sale (every waiting customer, every few seconds) is its one hot procedure. A plain GET (as httpLink sends
 * it) with a valid input and a customer's session is answered here: the session (one Redis read), the rate limits
 * the middlewares would count (per IP, then per user), the room's one script, the token signed in process.
 *
 * Anything else — a batch, bad input, no or an unknown session, another role, a limit reached, an unknown event, a
 * streaming request — goes on to tRPC, which answers with its own errors (tested byte for byte against the adapter
 * in apps/api/test/waiting-room.int.spec.ts). A call left to tRPC after the limits were counted is counted again
 * there: a fixed window, so that changes neither a refusal nor when it ends.
 */
export function roomStatusFastPath(rooms: WaitingRoomService, sessions: SessionService, metrics: Metrics, limits: RateLimits | null = null) {
  return async function fastPath(req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    if (!mayServeRoomStatus(req)) return false;
    const started = process.hrtime.bigint();
    const eventId = parse(req.url);
    if (eventId === null) return false;
    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return false;
    const session = await sessions.resolve(token);
    if (!session || session.role !== Role.CUSTOMER) return false;
    const headers = await fastPathLimit(limits, PROCEDURE, req, 1, [
      ['ip', req.ip],
      ['user', session.userId],
    ]);
    if (!headers) return false;
    let status;
    try {
      status = await rooms.status(session.userId, eventId);
    } catch {
      return false; // tRPC answers (NOT_FOUND for an unknown event) or logs the failure
    }
    const body = `{"result":{"data":${JSON.stringify(status)}}}`;
    writeJson(req, reply, 200, body, headers);
    metrics.httpDuration.observe({ procedure: PROCEDURE, code: 'OK' }, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };
}

/** A GET of waitingRoom.status alone that is not a streaming request: the only requests the fast path looks at. */
export const mayServeRoomStatus = (req: FastifyRequest): boolean => req.method === 'GET' && req.url.startsWith(`${PATH}?`) && !isStreamRequest(req);

/** The eventId of `/trpc/waitingRoom.status?input=…` (no other parameter), or null. */
function parse(url: string): number | null {
  const params = new URLSearchParams(url.slice(PATH.length + 1));
  const raw = params.get('input');
  if (raw === null || [...params.keys()].length !== 1) return null;
  let input: unknown;
  try {
    input = JSON.parse(raw);
  } catch {
    return null;
  }
  const parsed = waitingRoomEventInput.safeParse(input);
  return parsed.success ? parsed.data.eventId : null;
}
