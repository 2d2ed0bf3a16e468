import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '@bazaar/contracts';
import type { RedisKeys, Redis } from '@bazaar/platform';

export interface Session {
  userId: number;
  role: Role;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * Opaque bearer tokens: 256 random bits given to the client once; Redis keeps
 * only their SHA-256, with the session's expiry.
 */
export class SessionService {
  constructor(
    private readonly redis: Redis,
    keys: RedisKeys,
    private readonly ttlSeconds: number,
    /** Where a token's session lives: the API's bearer tokens by default; the admin console keeps its own (keys.adminSession). */
    private readonly keyOf: (tokenHash: string) => string = keys.session,
  ) {}

  async issue(session: Session): Promise<{ token: string; expiresAt: string }> {
    const token = randomBytes(32).toString('base64url');
    await this.redis.set(this.keyOf(hashToken(token)), JSON.stringify(session), 'EX', this.ttlSeconds);
    return { token, expiresAt: new Date(Date.now() + this.ttlSeconds * 1000).toISOString() };
  }

  async resolve(token: string): Promise<Session | null> {
    if (token.length > 100) return null;
    const raw = await this.redis.get(this.keyOf(hashToken(token)));
    return raw ? (JSON.parse(raw) as Session) : null;
  }

  async revoke(token: string): Promise<void> {
    await this.redis.del(this.keyOf(hashToken(token)));
  }
}
