import type { DataSource, QueryRunner } from 'typeorm';
import { ReplicaReads, isConnectionError, type ReplicaFallbackReason } from './replica-reads';

/** A DataSource whose runners say where they ran; the replica fails while `replica.down`, or dies mid-read while `replica.dropsReads`. */
function fakeDataSource() {
  const replica = { down: false, dropsReads: false, connects: 0, released: 0 };
  const primary = { reads: 0, released: 0 };
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3307'), { code: 'ECONNREFUSED', fatal: true });
  const lost = Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
  const ds = {
    createQueryRunner(mode: 'master' | 'slave') {
      return {
        async connect() {
          if (mode === 'slave') {
            replica.connects++;
            if (replica.down) throw refused;
          }
        },
        async query(sql: string) {
          if (mode === 'master') {
            primary.reads++;
            return [{ from: 'primary' }];
          }
          if (replica.dropsReads) throw lost;
          if (sql === 'bad') throw Object.assign(new Error("Table 'x' doesn't exist"), { code: 'ER_NO_SUCH_TABLE', errno: 1146 });
          return [{ from: 'replica' }];
        },
        async release() {
          if (mode === 'master') primary.released++;
          else replica.released++;
        },
      } as unknown as QueryRunner;
    },
  } as unknown as DataSource;
  return { ds, replica, primary };
}

function setup(replicas = 1) {
  const f = fakeDataSource();
  let now = 1_000_000;
  const counted: ReplicaFallbackReason[] = [];
  const warnings: Record<string, unknown>[] = [];
  const infos: Record<string, unknown>[] = [];
  const reads = new ReplicaReads(f.ds, replicas, {
    fallbacks: { inc: ({ reason }) => void counted.push(reason) },
    log: {
      warn: (obj: Record<string, unknown>) => void warnings.push(obj),
      info: (obj: Record<string, unknown>) => void infos.push(obj),
    },
    retryMs: 1_000,
    warnEveryMs: 30_000,
    now: () => now,
  });
  const read = (sql = 'SELECT 1') => reads.run(async (q) => ((await q.query(sql)) as { from: string }[])[0]!.from);
  return { ...f, reads, read, counted, warnings, infos, tick: (ms: number) => (now += ms) };
}

describe('ReplicaReads', () => {
  it('reads from the replica while it answers, counting nothing', async () => {
    const t = setup();
    expect(await t.read()).toBe('replica');
    expect(await t.read()).toBe('replica');
    expect(t.counted).toEqual([]);
    expect(t.replica.released).toBe(2);
  });

  it('reads from the primary when the replica cannot be reached, and keeps away from it for retryMs', async () => {
    const t = setup();
    t.replica.down = true;
    expect(await t.read()).toBe('primary');
    expect(t.counted).toEqual(['unreachable']);
    const connects = t.replica.connects;
    for (let i = 0; i < 10; i++) expect(await t.read()).toBe('primary');
    expect(t.replica.connects).toBe(connects); // no connect attempts while it is known down
    expect(t.counted.filter((r) => r === 'down')).toHaveLength(10);
    expect(t.reads.fallingBack).toBe(true);
    // every runner was released, on both sides
    expect(t.primary.released).toBe(11);
    expect(t.replica.released).toBe(1);
  });

  it('tries the replica again after retryMs, and returns to it once it answers', async () => {
    const t = setup();
    t.replica.down = true;
    await t.read();
    t.tick(1_001);
    expect(await t.read()).toBe('primary'); // tried, still down
    expect(t.counted).toEqual(['unreachable', 'unreachable']);
    t.replica.down = false;
    expect(await t.read()).toBe('primary'); // within retryMs of the last failure
    t.tick(1_001);
    expect(await t.read()).toBe('replica');
    expect(await t.read()).toBe('replica');
    expect(t.reads.fallingBack).toBe(false);
    expect(t.infos).toEqual([expect.objectContaining({ fallbacks: 3, downForMs: 2_002 })]);
  });

  it('warns at most once per interval, saying how many reads fell back since the last warning', async () => {
    const t = setup();
    t.replica.down = true;
    for (let i = 0; i < 50; i++) {
      await t.read();
      t.tick(500); // a retry every other read
    }
    expect(t.warnings).toHaveLength(1);
    expect(t.warnings[0]).toEqual(expect.objectContaining({ reason: 'unreachable', fallbacks: 1, err: expect.stringContaining('ECONNREFUSED') as string }));
    t.tick(30_000);
    await t.read();
    expect(t.warnings).toHaveLength(2);
    expect(t.warnings[1]).toEqual(expect.objectContaining({ fallbacks: 50 }));
  });

  it('runs a read again on the primary when its replica connection dies mid-read', async () => {
    const t = setup();
    t.replica.dropsReads = true;
    expect(await t.read()).toBe('primary');
    expect(t.counted).toEqual(['lost']);
    expect(t.replica.released).toBe(1);
  });

  it("passes a statement's own error through: the replica answered", async () => {
    const t = setup();
    await expect(t.read('bad')).rejects.toThrow("doesn't exist");
    expect(t.counted).toEqual([]);
    expect(t.primary.reads).toBe(0);
  });

  it('lets one read at a time try the replica again; the others go to the primary meanwhile', async () => {
    const t = setup();
    t.replica.down = true;
    await t.read();
    t.tick(1_001);
    t.replica.down = false;
    const results = await Promise.all([t.read(), t.read(), t.read()]);
    expect(results.sort()).toEqual(['primary', 'primary', 'replica']);
    expect(await t.read()).toBe('replica');
  });

  it('tries each replica once before falling back (round robin moves on)', async () => {
    const t = setup(2);
    t.replica.down = true;
    expect(await t.read()).toBe('primary');
    expect(t.replica.connects).toBe(2);
  });

  it('without replicas reads the primary and counts nothing', async () => {
    const t = setup(0);
    t.replica.down = true;
    expect(await t.read()).toBe('primary');
    expect(t.counted).toEqual([]);
  });
});

describe('isConnectionError', () => {
  it('knows a lost or refused connection from a refused statement', () => {
    expect(isConnectionError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('x'), { code: 'ETIMEDOUT' }))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('x'), { fatal: true }))).toBe(true);
    expect(isConnectionError({ driverError: { code: 'PROTOCOL_CONNECTION_LOST' } })).toBe(true);
    expect(isConnectionError({ driverError: { errno: 1053 } })).toBe(true); // server shutdown in progress
    expect(isConnectionError({ driverError: { errno: 1290, code: 'ER_OPTION_PREVENTS_STATEMENT' } })).toBe(false);
    expect(isConnectionError({ driverError: { errno: 1146 } })).toBe(false);
    expect(isConnectionError(new Error('plain'))).toBe(false);
    expect(isConnectionError(null)).toBe(false);
  });
});
