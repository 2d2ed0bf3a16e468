import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface ClusterNode {
  port: number;
  /** The node's current process (a restart replaces it). */
  child: ChildProcess;
  /** True once the process has exited (killed or stopped), until it is restarted. */
  dead: boolean;
}

export interface RedisClusterHandle {
  /** redis:// URLs of every node, for REDIS_CLUSTER_URLS. */
  urls: string[];
  nodes: ClusterNode[];
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<ClusterNode>;
  /** The replica following `master` now. */
  replicaOf(master: ClusterNode): Promise<ClusterNode>;
  /** SIGSTOP / SIGCONT a node: a replica that stops acknowledging for a while (keep it under cluster-node-timeout). */
  pause(node: ClusterNode): void;
  resume(node: ClusterNode): void;
  /**
   * Starts a killed node again with its cluster identity and no data: it learns it was failed over and rejoins as a
   * replica of the node that took its slots. Resolves once its replication link is up.
   */
  restart(node: ClusterNode): Promise<void>;
  /** SIGKILL a node (no shutdown, no last replication): a master that dies. */
  kill(node: ClusterNode): Promise<void>;
  /** Waits until a node other than `dead` serves `key`'s slot as master and the survivors say cluster_state:ok; the ms it took from `sinceMs`. */
  waitForFailover(key: string, dead: ClusterNode, sinceMs: number, timeoutMs?: number): Promise<number>;
  /** Stops every node and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
// A jest worker that exits (a failed beforeAll, a timeout) leaves no redis-server behind.
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** A port free on 127.0.0.1 whose cluster bus port (+10000) is free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.has(port) || taken.has(port + 10_000) || taken.has(port - 10_000)) continue;
    if ((await tryListen(port)) && (await tryListen(port + 10_000))) {
      taken.add(port);
      return port;
    }
  }
}

async function until<T>(what: string, fn: () => Promise<T | null>, timeoutMs: number, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** `CLUSTER NODES` as rows: id, port, flags, master id, slots. */
function parseNodes(text: string) {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', addr = '', flags = '', master = '', , , , , ...slots] = line.split(' ');
      return { id, port: Number(/:(\d+)@/.exec(addr)?.[1] ?? 0), flags: flags.split(','), master, slots };
    });
}

const owns = (slots: string[], slot: number) =>
  slots.some((s) => {
    if (s.startsWith('[')) return false;
    const [a, b = a] = s.split('-').map(Number);
    return slot >= a! && slot <= b!;
  });

/**
 * A Redis Cluster of `masters` masters with one replica each, on free ports, in a temporary directory, without
 * persistence: `redis-server --cluster-enabled yes` per node, joined by `redis-cli --cluster create`. Resolves
 * once every node reports cluster_state:ok with all 16384 slots and every replica's link is up. A small
 * cluster-node-timeout makes a killed master's replica take over within a few seconds. Stop it with stop();
 * processes left running when the test process exits are killed.
 */
export async function startRedisCluster(opts: { masters?: number; nodeTimeoutMs?: number } = {}): Promise<RedisClusterHandle> {
  for (const tool of ['redis-server', 'redis-cli']) {
    const v = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    if (v.error || v.status !== 0) throw new Error(`${tool} is needed for the Redis Cluster tests (Redis 7): ${v.error?.message ?? v.stderr}`);
  }
  const masters = opts.masters ?? 3;
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 2000;
  const dir = mkdtempSync(join(tmpdir(), 'bazaar-redis-cluster-'));
  const taken = new Set<number>();
  const nodes: ClusterNode[] = [];
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      nodes.map(async (n) => {
        if (n.dead) return;
        const exited = new Promise((r) => n.child.once('exit', r));
        n.child.kill('SIGCONT');
        n.child.kill('SIGTERM');
        const t = setTimeout(() => n.child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };

  /** Starts (or starts again, with its nodes.conf: the same cluster identity) the node's redis-server. */
  const launch = (node: ClusterNode) => {
    const port = node.port;
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout', String(nodeTimeoutMs),
      // The survivors keep serving their slots while one master's are being taken over.
      '--cluster-require-full-coverage', 'no',
      // A replica may always take over, however long it has been cut off (tests kill masters on purpose).
      '--cluster-replica-validity-factor', '0',
      '--dir', dir,
      '--dbfilename', `dump-${port}.rdb`,
      '--appendonly', 'no',
      '--save', '',
      '--logfile', join(dir, `redis-${port}.log`),
      '--maxmemory-policy', 'noeviction',
    ]; // prettier-ignore
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.on('error', () => undefined); // seen as the node never answering
    live.add(child);
    node.child = child;
    node.dead = false;
    child.once('exit', () => {
      if (node.child === child) node.dead = true;
      live.delete(child);
    });
  };

  try {
    for (let i = 0; i < masters * 2; i++) {
      const node: ClusterNode = { port: await freeClusterPort(taken), child: null as unknown as ChildProcess, dead: true };
      launch(node);
      nodes.push(node);
    }
    await Promise.all(nodes.map((n) => until(`redis-server on ${n.port}`, () => ask(n.port, (r) => r.ping()), 10_000)));
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (${create.status}):\n${create.stdout}\n${create.stderr}`);
    await until(
      'cluster_state:ok on every node, every replica linked',
      async () => {
        for (const n of nodes) {
          const info = await ask(n.port, (r) => r.cluster('INFO'));
          if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return null;
          const repl = await ask(n.port, (r) => r.info('replication'));
          if (/role:slave/.test(repl) && !/master_link_status:up/.test(repl)) return null;
          if (/role:master/.test(repl) && !/connected_slaves:1/.test(repl)) return null;
        }
        return true;
      },
      30_000,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const alive = () => nodes.filter((n) => !n.dead);
  const owner = async (key: string, via: ClusterNode) => {
    const slot = Number(await ask(via.port, (r) => r.call('CLUSTER', 'KEYSLOT', key)));
    const rows = parseNodes(String(await ask(via.port, (r) => r.call('CLUSTER', 'NODES'))));
    const row = rows.find((x) => x.flags.includes('master') && !x.flags.includes('fail') && !x.flags.includes('fail?') && owns(x.slots, slot));
    return row ? (nodes.find((n) => n.port === row.port) ?? null) : null;
  };

  return {
    urls: nodes.map((n) => `redis://127.0.0.1:${n.port}`),
    nodes,
    async masterOf(key) {
      return until(`the master of ${key}`, () => owner(key, alive()[0]!), 10_000);
    },
    async replicaOf(master) {
      return until(
        `the replica of :${master.port}`,
        async () => {
          const rows = parseNodes(String(await ask(master.port, (r) => r.call('CLUSTER', 'NODES'))));
          const id = rows.find((x) => x.port === master.port)?.id;
          const row = rows.find((x) => x.flags.includes('slave') && x.master === id && !x.flags.includes('fail'));
          return row ? (alive().find((n) => n.port === row.port) ?? null) : null;
        },
        10_000,
      );
    },
    pause(node) {
      node.child.kill('SIGSTOP');
    },
    resume(node) {
      node.child.kill('SIGCONT');
    },
    async restart(node) {
      if (!node.dead) throw new Error(`:${node.port} is running`);
      launch(node);
      await until(
        `:${node.port} back as a replica`,
        async () => {
          const repl = await ask(node.port, (r) => r.info('replication'));
          return /role:slave/.test(repl) && /master_link_status:up/.test(repl) ? true : null;
        },
        30_000,
        100,
      );
    },
    async kill(node) {
      if (node.dead) return;
      const exited = new Promise((r) => node.child.once('exit', r));
      node.child.kill('SIGKILL');
      await exited;
    },
    async waitForFailover(key, dead, sinceMs, timeoutMs = 30_000) {
      await until(
        `a replica taking over ${key}'s slot`,
        async () => {
          for (const n of alive()) {
            const o = await owner(key, n);
            if (!o || o === dead || o.dead) return null;
            const info = await ask(n.port, (r) => r.cluster('INFO'));
            if (!/cluster_state:ok/.test(info)) return null;
          }
          return true;
        },
        timeoutMs,
        50,
      );
      return Date.now() - sinceMs;
    },
    stop,
  };
}
