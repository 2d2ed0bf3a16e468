/**
 * `npm run bench` (second part; alone: `npm run bench:reads`): the catalog's
 * read path, in one run, against the ceiling of this machine.
 *
 *   bare     a bare Fastify route answering the same bytes as a cached products.get (the ceiling);
 *   hot      products.get of one product, cached (the fast path: no tRPC adapter, same wire format);
 *   cold-ish products.get of 1,000 products, uniformly at random;
 *   adapter  products.get hot through the stock tRPC adapter (API_FAST_PATHS=false), for reference;
 *   list     products.list's first page in each sort (newest, price, price_desc, popular) through the
 *            fast path, each right after a bare route answering the same bytes (its own ceiling), and
 *            newest through the adapter for reference;
 *   search   products.list searching "가방", after its bare route.
 *
 * Each phase runs autocannon at BENCH_READ_CONNECTIONS (100) for
 * BENCH_READ_SECONDS (20) after a short warm-up, samples the API's CPU and
 * RSS, and writes bench/reports/<date>-reads.md plus the raw JSON. It uses its
 * own database and Redis prefix, dropped at the end.
 */
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { CatalogRepository, createDataSource } from '@bazaar/db';
import { createRedis, redisKeys } from '@bazaar/platform';
import { SoldOutGate } from '@bazaar/queue';
import { mainThreadProfile, summarizeProfile, type ProfileSummary } from './lib/cpuprofile';
import { benchEnv, cleanup, createBenchDatabase, machineInfo, mysqlConnection, redisClient, type MachineInfo } from './lib/env';
import { ROOT, startProcess, stopAll, type BenchProcess } from './lib/processes';
import { Sampler, findPid, machineBusyOver, type PhaseUsage } from './lib/sampler';
import { envNumber, monoMicros, round } from './lib/stats';

const num = envNumber;
const S = {
  seconds: num('BENCH_READ_SECONDS', 20),
  warmupSeconds: num('BENCH_READ_WARMUP_SECONDS', 3),
  connections: num('BENCH_READ_CONNECTIONS', 100),
  products: num('BENCH_READ_PRODUCTS', 1_000),
  profile: process.env.BENCH_PROFILE !== '0',
  /** Rounds of (bare, hot) back to back. */
  rounds: num('BENCH_READ_ROUNDS', 3),
  /** Only these phases (comma-separated names), e.g. BENCH_READ_PHASES=bare,hot. */
  phases: (process.env.BENCH_READ_PHASES ?? '').split(',').filter(Boolean),
};

interface Phase {
  name: string;
  what: string;
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  pctOfBare?: number;
  usage: PhaseUsage;
  /** The measured window, on the clock CPU profiles use. */
  window: { fromUs: number; toUs: number };
  /** The processes that served it. */
  servers: string[];
  /** products.get reads served per batch (one Redis round) over the phase and its warm-up, when the servers count them. */
  readsPerBatch: number | null;
}

const batchTotals = new Map<string, { reads: number; batches: number }>();

/** Reads per batch since the last call, from the servers' own counters (products.get's, or products.list's). */
async function batching(procs: BenchProcess[], of: 'get' | 'list'): Promise<number | null> {
  let reads = 0;
  let batches = 0;
  const names =
    of === 'get'
      ? ['bazaar_product_reads_total', 'bazaar_product_read_batches_total']
      : ['bazaar_product_list_reads_total', 'bazaar_product_list_read_batches_total'];
  for (const p of procs) {
    const text = await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const now = { reads: value(names[0]!), batches: value(names[1]!) };
    const before = batchTotals.get(`${p.port} ${of}`) ?? { reads: 0, batches: 0 };
    batchTotals.set(`${p.port} ${of}`, now);
    reads += now.reads - before.reads;
    batches += now.batches - before.batches;
  }
  return batches > 0 ? round(reads / batches, 1) : null;
}

const t0 = Date.now();
const say = (msg: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

function cannon(port: number, seconds: number, path: string | (() => string), connections = S.connections): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections,
        duration: seconds,
        timeout: 10,
        requests: [typeof path === 'string' ? { method: 'GET', path } : { method: 'GET', setupRequest: (req) => ({ ...req, path: path() }) }],
      },
      (err: unknown, r: autocannon.Result) => (err ? reject(err instanceof Error ? err : new Error(JSON.stringify(err))) : resolve(r)),
    );
  });
}

const LIST_SORTS = ['newest', 'price', 'price_desc', 'popular'] as const;
/** Each list phase's answer, in bytes. */
const listBodies: Record<string, number> = {};
/** Issue 11's targets for list pages: the first page of each sort, and the search, as a share of their bare routes. */
const LIST_TARGET_PCT = 30;
const SEARCH_TARGET_PCT = 15;

const getPath = (productId: number) => `/trpc/products.get?input=${encodeURIComponent(JSON.stringify({ productId }))}`;
const listPath = (input: Record<string, unknown>) => `/trpc/products.list?input=${encodeURIComponent(JSON.stringify(input))}`;

async function main(): Promise<void> {
  const env = benchEnv();
  const prefix = `${env.prefixBase}r`;
  const sampler = new Sampler(cpus().length);
  const profileDir = S.profile ? mkdtempSync(join(tmpdir(), 'bazaar-reads-prof-')) : null;
  let machine: MachineInfo | null = null;
  const phases: Phase[] = [];
  const profiles: ProfileSummary[] = [];
  let aborted = false;
  process.on('SIGINT', () => {
    aborted = true;
    say('Ctrl-C: stopping, then cleaning up');
  });
  try {
    say(`own database ${env.database}, Redis prefix ${prefix}`);
    await createBenchDatabase(env);
    const db = await mysqlConnection(env.mysqlUrl);
    const redis = redisClient(env.redisUrl);
    machine = await machineInfo(db, redis);

    say(`seeding ${S.products.toLocaleString('en')} products through the catalog repository`);
    const ds = createDataSource({
      MYSQL_URL: env.mysqlUrl,
      MYSQL_REPLICA_URLS: [],
      MYSQL_POOL_SIZE: 8,
      MYSQL_POOL_QUEUE_LIMIT: 10_000,
      MYSQL_CONNECT_TIMEOUT_MS: 5000,
    });
    await ds.initialize();
    await db.query(`INSERT INTO users (email, password_hash, name, role) VALUES ('seller@reads.bazaar', 'x', 'reads seller', 'SELLER')`);
    await db.query(`INSERT INTO stores (seller_id, name) SELECT id, 'reads store' FROM users WHERE email = 'seller@reads.bazaar'`);
    const [[store]] = (await db.query(`SELECT id FROM stores WHERE name = 'reads store'`)) as unknown as [[{ id: number }]];
    const catalog = new CatalogRepository(ds);
    const gateRedis = createRedis(env.redisUrl, 'command');
    const gate = new SoldOutGate(gateRedis, redisKeys(prefix));
    const words = ['무선', '이어폰', '노트북', '가방', '운동화', '커피', 'wireless', 'laptop', 'bag', 'coffee', 'organic', 'sneakers'];
    const ids: number[] = [];
    for (let i = 0; i < S.products; i += 50) {
      const made = await Promise.all(
        Array.from({ length: Math.min(50, S.products - i) }, (_, k) => {
          const n = i + k;
          return catalog.createProduct({
            storeId: store.id,
            name: `${words[n % words.length]} ${words[(n * 7 + 3) % words.length]} ${n}`,
            description: `Bench product ${n}: ${words[(n * 5 + 1) % words.length]} for the read benchmark.`,
            price: 1_000 + (n % 97) * 100,
            stock: 1_000,
          });
        }),
      );
      for (const p of made) {
        ids.push(p.id);
        await gate.init(p.id, p.stock);
      }
    }
    await gateRedis.quit();
    await ds.destroy();
    const hotId = ids[0] ?? 1;

    const baseEnv = { MYSQL_URL: env.mysqlUrl, REDIS_URL: env.redisUrl, REDIS_PREFIX: prefix, LOG_LEVEL: 'warn' };
    const prof = (name: string) => (profileDir ? { cpuProfDir: join(profileDir, name) } : {});
    sampler.track('bench (autocannon)', process.pid);
    sampler.track('redis-server', findPid('redis-server'));
    sampler.track('mariadbd', findPid('mariadbd', 'mysqld'));

    const api = await startProcess('api', 'api', { env: baseEnv, ...prof('api') });
    sampler.track('api', api.pid);
    const hotBody = await (await fetch(`http://127.0.0.1:${api.port}${getPath(hotId)}`)).text();
    const bodyFile = join(mkdtempSync(join(tmpdir(), 'bazaar-bare-')), 'body.json');
    writeFileSync(bodyFile, hotBody);
    const bare = await startProcess('bare', 'bare fastify', { env: { BARE_BODY_FILE: bodyFile } });
    sampler.track('bare fastify', bare.pid);
    const api2 = await startProcess('api', 'api-2', { env: baseEnv });
    sampler.track('api-2', api2.pid);
    const adapter = await startProcess('api', 'api (tRPC adapter)', { env: { ...baseEnv, API_FAST_PATHS: 'false' } });
    sampler.track('api (tRPC adapter)', adapter.pid);
    say(`api :${api.port}, bare Fastify :${bare.port}, api with the stock adapter :${adapter.port}; the answer is ${hotBody.length} bytes`);

    /** One phase: autocannon on each process at once, the connections split between them. */
    const runPhase = async (name: string, what: string, procs: BenchProcess[], path: string | (() => string)) => {
      if (aborted || (S.phases.length > 0 && !S.phases.includes(name.replace(/ \(round \d+\)$/, '')))) return;
      const busy = await machineBusyOver(1000);
      say(`${name}: ${what} — ${S.connections} connections, ${S.warmupSeconds} s warm-up + ${S.seconds} s (machine ${busy}% busy before)`);
      const conns = Math.floor(S.connections / procs.length);
      const all = (seconds: number) => Promise.all(procs.map((proc) => cannon(proc.port, seconds, path, conns)));
      await all(S.warmupSeconds);
      const usage = sampler.begin();
      const fromUs = monoMicros();
      const rs = await all(S.seconds);
      const toUs = monoMicros();
      const u = usage.end();
      const readsPerBatch = await batching(procs, name.startsWith('list') || name.startsWith('search') ? 'list' : 'get');
      // Latency percentiles of the split run: the worst process's (each saw half the load).
      const worst = (f: (r: autocannon.Result) => number) => Math.max(...rs.map(f));
      const phase: Phase = {
        name,
        what,
        rps: Math.round(rs.reduce((sum, r) => sum + r.requests.average, 0)),
        ok: rs.reduce((sum, r) => sum + r['2xx'], 0),
        non2xx: rs.reduce((sum, r) => sum + r.non2xx, 0),
        errors: rs.reduce((sum, r) => sum + r.errors + r.timeouts, 0),
        latencyMs: {
          p50: worst((r) => r.latency.p50),
          p90: worst((r) => r.latency.p90),
          p99: worst((r) => r.latency.p99),
          max: worst((r) => r.latency.max),
          mean: round(
            worst((r) => r.latency.mean),
            2,
          ),
        },
        usage: u,
        window: { fromUs, toUs },
        servers: procs.map((x) => x.name),
        readsPerBatch,
      };
      phases.push(phase);
      const cpu = procs.map(
        (proc) =>
          `${proc.name} CPU ${u.processes.find((x) => x.name === proc.name)?.cpuPct ?? '?'}%, RSS max ${u.processes.find((x) => x.name === proc.name)?.rssMaxMb ?? '?'} MB`,
      );
      say(
        `    ${phase.rps.toLocaleString('en')} req/s, p50 ${phase.latencyMs.p50} ms, p99 ${phase.latencyMs.p99} ms, non-2xx ${phase.non2xx}, errors ${phase.errors}; ${cpu.join('; ')}`,
      );
    };

    const randomGet = () => getPath(ids[Math.floor(Math.random() * ids.length)] ?? hotId);
    // The ceiling and the hot read, alternated: this VM's speed drifts by tens of percent over minutes, so each
    // round's pair is measured back to back and the verdict takes the median round.
    for (let round = 1; round <= S.rounds; round++) {
      const tag = round === 1 ? '' : ` (round ${round})`;
      await runPhase(`bare${tag}`, 'bare Fastify route, the same bytes as a cached products.get (the ceiling)', [bare], '/bare');
      await runPhase(`hot${tag}`, 'products.get, one product, cached', [api], getPath(hotId));
    }
    await runPhase('hot ×2', 'products.get, one product, cached, two api processes (half the connections each)', [api, api2], getPath(hotId));
    await runPhase('cold-ish', `products.get, ${ids.length.toLocaleString('en')} products uniformly at random`, [api], randomGet);
    await runPhase('cold-ish ×2', 'the same, two api processes', [api, api2], randomGet);
    await runPhase('adapter', 'products.get hot through the stock tRPC adapter (API_FAST_PATHS=false)', [adapter], getPath(hotId));

    // products.list: each page's own ceiling is a bare route answering its bytes, taken now (the views counted above are in them).
    const lists = [
      ...LIST_SORTS.map((sort) => ({
        name: `list ${sort}`,
        bareName: `list-${sort}`,
        path: listPath({ sort, limit: 20 }),
        what: `products.list, first page (20), sort ${sort}`,
      })),
      {
        name: 'search',
        bareName: 'search',
        path: listPath({ query: '가방', limit: 20 }),
        what: 'products.list, search "가방" (2-syllable Korean word), 20 a page',
      },
    ];
    const listDir = mkdtempSync(join(tmpdir(), 'bazaar-bare-lists-'));
    const listFiles: string[] = [];
    for (const l of lists) {
      const body = await (await fetch(`http://127.0.0.1:${api.port}${l.path}`)).text();
      const viaAdapter = await (await fetch(`http://127.0.0.1:${adapter.port}${l.path}`)).text();
      if (body !== viaAdapter) throw new Error(`${l.name}: the fast path and the adapter answer different bytes`);
      const file = join(listDir, `${l.bareName}.json`);
      writeFileSync(file, body);
      listFiles.push(`${l.bareName}:${file}`);
      listBodies[l.name] = Buffer.byteLength(body);
    }
    const bareLists = await startProcess('bare', 'bare lists', { env: { BARE_GET_FILES: listFiles.join(',') } });
    sampler.track('bare lists', bareLists.pid);
    say(`list pages: ${lists.map((l) => `${l.name} ${listBodies[l.name]} bytes`).join(', ')} (the fast path's and the adapter's answers the same bytes)`);
    for (const l of lists) {
      await runPhase(`bare ${l.name}`, `bare Fastify route, the same bytes as ${l.name} (its ceiling)`, [bareLists], `/bare/${l.bareName}`);
      await runPhase(l.name, `${l.what}, the fast path`, [api], l.path);
      if (l.name === 'list newest')
        await runPhase('list adapter', 'products.list newest through the stock tRPC adapter (API_FAST_PATHS=false; the same page cache)', [adapter], l.path);
    }
    // Each phase against the ceiling measured nearest before it.
    let bareRps = 0;
    for (const p of phases) {
      if (p.name.startsWith('bare')) bareRps = p.rps;
      p.pctOfBare = bareRps ? round((100 * p.rps) / bareRps, 1) : undefined;
    }

    const [[{ n: views }]] = (await db.query('SELECT COALESCE(SUM(view_count), 0) AS n FROM products')) as unknown as [[{ n: number | string }]];
    say(`views flushed to MySQL so far: ${Number(views).toLocaleString('en')} (no scheduler runs in this bench; Redis holds the rest)`);
    await db.end();
    await redis.quit();
  } finally {
    sampler.stop();
    await stopAll();
    if (profileDir) {
      const file = mainThreadProfile(join(profileDir, 'api'));
      for (const p of phases.filter((x) => x.servers.length === 1 && x.servers[0] === 'api' && !x.name.includes('(round'))) {
        if (file) profiles.push(summarizeProfile(`api during "${p.name}"`, file, p.window, 12));
      }
    }
    const problems = await cleanup(env);
    if (problems.length) say(`cleanup problems: ${problems.join('; ')}`);
  }
  const date = new Date().toISOString().slice(0, 10);
  const dir = join(ROOT, 'bench', 'reports');
  mkdirSync(dir, { recursive: true });
  const result = { date, settings: S, machine, phases, profiles };
  writeFileSync(join(dir, `${date}-reads.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(dir, `${date}-reads.md`), render(result));
  say(`report: bench/reports/${date}-reads.md`);
}

/**
 * Issue 11's list targets, read off this run: each sort's first page ≥ 30% of
 * the bare route answering its bytes, the search ≥ 15% of its own; a miss says
 * by how much and what the api's profile shows it spent the time on.
 */
function listVerdict(phases: Phase[], profiles: ProfileSummary[]): string[] {
  const out: string[] = [];
  let met = 0;
  let total = 0;
  for (const p of phases.filter((x) => (x.name.startsWith('list ') && x.name !== 'list adapter') || x.name === 'search')) {
    const bare = phases.find((x) => x.name === `bare ${p.name}`);
    if (!bare) continue;
    const target = p.name === 'search' ? SEARCH_TARGET_PCT : LIST_TARGET_PCT;
    const pct = round((100 * p.rps) / bare.rps, 1);
    const ok = pct >= target;
    total++;
    if (ok) met++;
    let line = `- **${p.name}** (${(listBodies[p.name] ?? 0).toLocaleString('en')} bytes): ${p.rps.toLocaleString('en')} req/s = ${pct}% of its bare route (${bare.rps.toLocaleString('en')} req/s, measured just before); target ≥ ${target}%: ${ok ? `met, by ${round(pct - target, 1)} points` : `**missed by ${round(target - pct, 1)} points**`}; p99 ${p.latencyMs.p99} ms (bare: ${bare.latencyMs.p99} ms); ${p.readsPerBatch ?? '?'} reads per Redis round.`;
    if (!ok) {
      const prof = profiles.find((x) => x.label === `api during "${p.name}"`);
      if (prof)
        line += ` What bounds it: the api's main thread ${prof.busyPct}% busy (machine ${p.usage.machineBusyPct}%); ${prof.byOwner
          .slice(0, 4)
          .map((o) => `${o.name} ${o.pct}%`)
          .join(', ')}; top function ${prof.topFunctions[0]?.name ?? '?'} (${prof.topFunctions[0]?.pct ?? '?'}%).`;
    }
    out.push(line);
  }
  const adapter = phases.find((x) => x.name === 'list adapter');
  const newest = phases.find((x) => x.name === 'list newest');
  if (adapter && newest)
    out.push(
      `- **list adapter** (newest through the stock tRPC adapter, the same page cache): ${adapter.rps.toLocaleString('en')} req/s = ${adapter.pctOfBare}% of newest's bare route; the fast path answers ${round(newest.rps / adapter.rps, 1)}× as many.`,
    );
  if (total > 0) out.push(`- **List targets**: ${met} of ${total} met.`);
  return out;
}

/** The targets (cached products.get ≥ 50% of the bare route, p99 < 10 ms), read off this run. */
function verdict(phases: Phase[]): string[] {
  const out: string[] = [];
  const hots = phases.filter((p) => /^hot( \(round \d+\))?$/.test(p.name));
  for (const p of hots) {
    out.push(
      `- **${p.name}**: ${p.rps.toLocaleString('en')} req/s = ${p.pctOfBare}% of the bare route measured just before it; p99 ${p.latencyMs.p99} ms (the bare route's: ${phases[phases.indexOf(p) - 1]?.latencyMs.p99 ?? '?'} ms).`,
    );
  }
  const pcts = hots.map((p) => p.pctOfBare ?? 0).sort((a, b) => a - b);
  const median = pcts[Math.floor(pcts.length / 2)];
  const p99s = hots.map((p) => p.latencyMs.p99).sort((a, b) => a - b);
  if (median !== undefined) {
    out.push(
      `- **Targets** (median of ${hots.length} round${hots.length === 1 ? '' : 's'}): cached products.get at ${median}% of the bare route (≥ 50%: ${median >= 50 ? 'met' : 'missed'}); p99 ${p99s[Math.floor(p99s.length / 2)]} ms (< 10 ms: ${(p99s[Math.floor(p99s.length / 2)] ?? 99) < 10 ? 'met' : 'missed'}).`,
    );
  }
  const two = phases.find((p) => p.name === 'hot ×2');
  if (two)
    out.push(
      `- **hot ×2** (two api processes): ${two.rps.toLocaleString('en')} req/s = ${two.pctOfBare}% of the last bare round; p99 ${two.latencyMs.p99} ms.`,
    );
  return out;
}

const CPU_COLUMNS = ['bench (autocannon)', 'api', 'api-2', 'bare fastify', 'bare lists', 'api (tRPC adapter)', 'redis-server', 'mariadbd'];

function render(r: { date: string; settings: typeof S; machine: MachineInfo | null; phases: Phase[]; profiles: ProfileSummary[] }): string {
  const lines = [
    `# Catalog reads — ${r.date}`,
    '',
    `\`npm run bench:reads\` (also the second part of \`npm run bench\`). autocannon, ${r.settings.connections} connections, ${r.settings.warmupSeconds} s warm-up then ${r.settings.seconds} s per phase (split evenly when two api processes serve), on ${r.machine ? `${r.machine.cores} cores (${r.machine.cpuModel})` : 'this machine'}; the load generator runs on the same machine, in the bench's own process. With two processes the p50/p99 shown are the worse of the two.`,
    '',
    ...verdict(r.phases),
    '',
    '### products.list (issue 11, target 5: list pages under a storm)',
    '',
    ...listVerdict(r.phases, r.profiles),
    '',
    '| phase | what | req/s | % of bare | p50 ms | p99 ms | non-2xx | errors | server CPU, % of a core | server RSS max, MB | reads per Redis round |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.phases.map((p) => {
      const servers = p.usage.processes.filter((x) => p.servers.includes(x.name));
      const cpu = round(
        servers.reduce((sum, x) => sum + x.cpuPct, 0),
        1,
      );
      const rss = servers.map((x) => x.rssMaxMb).join(' + ');
      return `| ${p.name} | ${p.what} | ${p.rps.toLocaleString('en')} | ${p.pctOfBare ?? ''} | ${p.latencyMs.p50} | ${p.latencyMs.p99} | ${p.non2xx} | ${p.errors} | ${cpu} | ${rss} | ${p.readsPerBatch ?? ''} |`;
    }),
    '',
    '## CPU by process in each phase (% of one core)',
    '',
    '| phase | ' + CPU_COLUMNS.join(' | ') + ' | machine busy % |',
    `|---|${CPU_COLUMNS.map(() => '---:|').join('')}---:|`,
    ...r.phases.map(
      (p) => `| ${p.name} | ${CPU_COLUMNS.map((n) => p.usage.processes.find((x) => x.name === n)?.cpuPct ?? '').join(' | ')} | ${p.usage.machineBusyPct} |`,
    ),
    '',
  ];
  for (const prof of r.profiles) {
    lines.push(`## Profile: ${prof.label} (main thread ${prof.busyPct}% busy)`, '', '| owner | self ms | % of busy |', '|---|---:|---:|');
    for (const row of prof.byOwner.slice(0, 10)) lines.push(`| ${row.name} | ${row.selfMs} | ${row.pct} |`);
    lines.push('', '| top functions | where | self ms | % |', '|---|---|---:|---:|');
    for (const row of prof.topFunctions.slice(0, 12)) lines.push(`| ${row.name} | ${row.where} | ${row.selfMs} | ${row.pct} |`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
