import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Role } from '@bazaar/contracts';
import type { RedisKeys } from '@bazaar/platform';

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
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
  ) {}

  async issue(session: Session): Promise<{ token: string; expiresAt: string }> {
    const token = randomBytes(32).toString('base64url');
    await this.redis.set(this.keys.session(hashToken(token)), JSON.stringify(session), 'EX', this.ttlSeconds);
    return { token, expiresAt: new Date(Date.now() + this.ttlSeconds * 1000).toISOString() };
  }

  async resolve(token: string): Promise<Session | null> {
    if (token.length > 100) return null;
    const raw = await this.redis.get(this.keys.session(hashToken(token)));
    return raw ? (JSON.parse(raw) as Session) : null;
  }

  async revoke(token: string): Promise<void> {
    await this.redis.del(this.keys.session(hashToken(token)));
  }
}
