#!/usr/bin/env node
/**
 * `npm run up`: installs what is missing, checks MySQL and Redis, migrates,
 * loads demo data, and starts the api, two workers and the scheduler in the
 * background (logs in .run/logs). `npm run down` stops them.
 * Plain JavaScript on purpose: it runs before anything is installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODE_OPTIONS_DEFAULT = JSON.parse(readFileSync(join(ROOT, 'scripts', 'lib', 'node-options.json'), 'utf8')).NODE_OPTIONS;
const RUN = join(ROOT, '.run');
const say = (msg) => process.stdout.write(`${msg}\n`);
const fail = (msg) => {
  process.stderr.write(`\n✗ ${msg}\n`);
  process.exit(1);
};

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) fail(`Node ${process.versions.node} is too old: Bazaar needs Node 20.19 or newer.`);

if (existsSync(join(ROOT, '.env'))) process.loadEnvFile(join(ROOT, '.env'));
const env = process.env;
// The admin account: from ADMIN_EMAIL / ADMIN_PASSWORD, else .env.example's development defaults (said aloud below).
let adminFromExample = false;
if (!env.ADMIN_EMAIL || !env.ADMIN_PASSWORD) {
  const example = Object.fromEntries(
    readFileSync(join(ROOT, '.env.example'), 'utf8')
      .split('\n')
      .map((l) => /^(ADMIN_EMAIL|ADMIN_PASSWORD)=(.*)$/.exec(l.trim()))
      .filter(Boolean)
      .map((m) => [m[1], m[2]]),
  );
  env.ADMIN_EMAIL ??= example.ADMIN_EMAIL;
  env.ADMIN_PASSWORD ??= example.ADMIN_PASSWORD;
  adminFromExample = true;
}
const mysqlUrl = new URL(env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/bazaar');
const redisUrl = new URL(env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const apiPort = Number(env.API_PORT ?? 3000);

function run(cmd, args, what) {
  say(`→ ${what}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env });
  if (r.status !== 0) fail(`${what} failed (exit ${r.status}).`);
}

function reachable(host, port) {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 2000 });
    s.once('connect', () => (s.end(), resolve(true)));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(false));
  });
}

async function waitReady(name, port, logFile, path = '/readyz') {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const ok = await fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  fail(`${name} did not become ready on port ${port} within 60 s. Its log: ${logFile}\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`);
}

// 1. Install.
if (!existsSync(join(ROOT, 'node_modules', '.package-lock.json'))) {
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], 'installing the locked versions (npm ci)');
}

// The project's runtime (Node 24, the `node` dev dependency): this script may have started on an older Node
// before anything was installed; every process it starts runs on the pinned one.
const NODE = existsSync(join(ROOT, 'node_modules', '.bin', 'node')) ? join(ROOT, 'node_modules', '.bin', 'node') : process.execPath;

// 2. MySQL and Redis must answer.
const mysqlPort = Number(mysqlUrl.port || 3306);
const redisPort = Number(redisUrl.port || 6379);
if (!(await reachable(mysqlUrl.hostname, mysqlPort))) {
  fail(`MySQL/MariaDB does not answer at ${mysqlUrl.hostname}:${mysqlPort} (MYSQL_URL).
  Start it, e.g. on Debian as root:  mkdir -p /run/mysqld && chown mysql /run/mysqld && start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  or point MYSQL_URL at a running server (see .env.example).`);
}
if (!(await reachable(redisUrl.hostname, redisPort))) {
  fail(`Redis does not answer at ${redisUrl.hostname}:${redisPort} (REDIS_URL).
  Start it, e.g.:  redis-server --daemonize yes --bind 127.0.0.1 --port ${redisPort} --appendonly yes
  or point REDIS_URL at a running server (see .env.example).`);
}
say(`✓ MySQL at ${mysqlUrl.hostname}:${mysqlPort}, Redis at ${redisUrl.hostname}:${redisPort}`);

// 3. Stop a previous run of ours, migrate, seed.
if (existsSync(join(RUN, 'pids'))) spawnSync(process.execPath, [join(ROOT, 'scripts', 'down.mjs'), '--quiet'], { stdio: 'inherit' });
run('npm', ['run', '--silent', 'build', '--', '--quiet'], 'compiling (npm run build)');
run('npm', ['run', '--silent', 'db:migrate'], 'migrating the schema');
run('npm', ['run', '--silent', 'db:seed'], 'loading demo data');

// 4. Start the fleet.
mkdirSync(join(RUN, 'logs'), { recursive: true });
mkdirSync(join(RUN, 'pids'), { recursive: true });
const gatewayPort = Number(env.FAKE_GATEWAY_PORT ?? 9300);
const fleet = [
  // The local stand-in for the card payment gateway (Toss Payments' API shape); production points PAYMENT_GATEWAY_URL at the real one.
  { name: 'fake-gateway', entry: 'apps/fake-gateway/dist/main.js', port: gatewayPort, env: {}, ready: '/healthz' },
  { name: 'api', entry: 'apps/api/dist/main.js', port: apiPort, env: { API_PORT: String(apiPort) } },
  { name: 'worker-1', entry: 'apps/worker/dist/main.js', port: 9101, env: { WORKER_METRICS_PORT: '9101' } },
  { name: 'worker-2', entry: 'apps/worker/dist/main.js', port: 9102, env: { WORKER_METRICS_PORT: '9102' } },
  { name: 'scheduler', entry: 'apps/scheduler/dist/main.js', port: Number(env.SCHEDULER_METRICS_PORT ?? 9201), env: {} },
];
for (const p of fleet) {
  if (await reachable('127.0.0.1', p.port)) fail(`port ${p.port} (for ${p.name}) is already taken by another program.`);
}
for (const p of fleet) {
  const logFile = join(RUN, 'logs', `${p.name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(NODE, ['--enable-source-maps', p.entry], {
    cwd: ROOT,
    // The project's V8 heap settings (scripts/lib/node-options.json) unless NODE_OPTIONS is set.
    env: { ...env, NODE_OPTIONS: env.NODE_OPTIONS || NODE_OPTIONS_DEFAULT, ...p.env },
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  writeFileSync(join(RUN, 'pids', `${p.name}.pid`), String(child.pid));
  p.logFile = logFile;
}
say('→ starting the fake payment gateway, api, 2 workers and the scheduler');
await Promise.all(fleet.map((p) => waitReady(p.name, p.port, p.logFile, p.ready)));

say(`
✓ Bazaar is up.
  API (tRPC)     http://127.0.0.1:${apiPort}/trpc
  Bull Board     http://127.0.0.1:${apiPort}/admin/queues   (sign in as the admin below)
  Health         http://127.0.0.1:${apiPort}/readyz
  Metrics        api :${env.API_METRICS_PORT ?? 9001}/metrics · workers :9101/metrics, :9102/metrics · scheduler :${fleet[4].port}/metrics
  Card payments  fake gateway at http://127.0.0.1:${gatewayPort} (mint test payment keys: POST /__test/payment-keys)
  Logs           .run/logs/{api,worker-1,worker-2,scheduler,fake-gateway}.log
  Demo accounts  customer@demo.bazaar / seller1@demo.bazaar, password bazaar-demo-1234
  Admin          ${env.ADMIN_EMAIL}${adminFromExample ? ' (password from .env.example: a development default; set ADMIN_EMAIL / ADMIN_PASSWORD in .env)' : ''}
  Try it         npm run demo
  Stop it        npm run down`);
