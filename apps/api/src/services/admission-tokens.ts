import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '@bazaar/platform';

/** What an admission token says: who may order, in which event, under which admission, until when. */
export interface AdmissionClaims {
  eventId: number;
  userId: number;
  ticket: number;
  expiresAtMs: number;
}

export type VerifiedAdmission = { ok: true; claims: AdmissionClaims } | { ok: false; why: string };

interface SigningKey {
  kid: string;
  secret: Buffer;
}

const VERSION = 'wr1';
const TOKEN = /^wr1\.([A-Za-z0-9_-]{1,16})\.([1-9][0-9]{0,15})\.([1-9][0-9]{0,15})\.([1-9][0-9]{0,15})\.([1-9][0-9]{0,15})\.([A-Za-z0-9_-]{43})$/;

export function parseKeyRing(ring: string): SigningKey[] {
  const keys = ring
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => {
      const at = e.indexOf(':');
      const kid = e.slice(0, at);
      const secret = e.slice(at + 1);
      if (at < 1 || !/^[A-Za-z0-9_-]{1,16}$/.test(kid) || secret.length < 16)
        throw new Error('admission key ring: entries are kid:secret, the secret at least 16 characters');
      return { kid, secret: Buffer.from(secret) };
    });
  if (keys.length === 0) throw new Error('admission key ring is empty');
  return keys;
}

/**
 * Signs and verifies waiting-room admission tokens: `wr1.<kid>.<eventId>.<userId>.<ticket>.<expiresAtMs>.<mac>`,
 * the MAC an HMAC-SHA256 (base64url) over everything before it, by the key named kid. Verifying is local (no Redis):
 * the signature, the owner and the expiry here; whether the token was used already, in the gate's script. The
 * same admission always gives the same token, so a client polling status sees one token.
 *
 * The key ring comes from config; with a file, the file is re-read (at most every `recheckMs`) when its mtime
 * changes, so a rotation needs no restart. A file that cannot be read or parsed keeps the ring in use, logged.
 */
export class AdmissionTokens {
  private keys: SigningKey[];
  private fileMtimeMs = 0;
  private checkedAt = 0;

  constructor(
    ring: string,
    private readonly file?: string,
    private readonly log?: Logger,
    private readonly recheckMs = 5_000,
  ) {
    this.keys = parseKeyRing(ring);
    if (file) this.reload(true);
  }

  sign(c: AdmissionClaims): string {
    const key = this.ring()[0]!;
    const body = `${VERSION}.${key.kid}.${c.eventId}.${c.userId}.${c.ticket}.${c.expiresAtMs}`;
    return `${body}.${mac(key.secret, body)}`;
  }

  /** For `userId` at `nowMs`: the token's claims, or why it is refused (forged, foreign, expired, malformed). */
  verify(token: string, userId: number, nowMs = Date.now()): VerifiedAdmission {
    const m = TOKEN.exec(token);
    if (!m) return { ok: false, why: 'not an admission token this API issued' };
    const key = this.ring().find((k) => k.kid === m[1]);
    if (!key) return { ok: false, why: 'signed by a key no longer in use: get a new token from waitingRoom.status' };
    const body = token.slice(0, token.length - 44);
    const given = Buffer.from(m[6]!);
    const expected = Buffer.from(mac(key.secret, body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, why: 'its signature does not verify' };
    const claims = { eventId: Number(m[2]), userId: Number(m[3]), ticket: Number(m[4]), expiresAtMs: Number(m[5]) };
    if (claims.userId !== userId) return { ok: false, why: 'it was issued to another customer' };
    if (claims.expiresAtMs <= nowMs) return { ok: false, why: 'it has expired: enter the line again' };
    return { ok: true, claims };
  }

  private ring(): SigningKey[] {
    if (this.file && Date.now() - this.checkedAt >= this.recheckMs) this.reload(false);
    return this.keys;
  }

  private reload(atStart: boolean): void {
    this.checkedAt = Date.now();
    try {
      const { mtimeMs } = statSync(this.file!);
      if (!atStart && mtimeMs === this.fileMtimeMs) return;
      const keys = parseKeyRing(readFileSync(this.file!, 'utf8'));
      this.fileMtimeMs = mtimeMs;
      const changed = keys.map((k) => k.kid).join(',') !== this.keys.map((k) => k.kid).join(',');
      this.keys = keys;
      if (changed && !atStart) this.log?.info({ kids: keys.map((k) => k.kid) }, 'admission token keys reloaded');
    } catch (err) {
      if (atStart) throw new Error(`ADMISSION_TOKEN_KEYS_FILE ${this.file}: ${err instanceof Error ? err.message : String(err)}`);
      this.log?.warn({ err, file: this.file }, 'admission token key file unreadable; keeping the keys in use');
    }
  }
}

function mac(secret: Buffer, body: string): string {
  return createHmac('sha256', secret).update(body).digest('base64url');
}
