import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort, running, type BenchProcess, type LogTally } from './processes';

/**
 * The code before a change, runnable beside today's: `git archive <rev>`
 * into a temporary directory (nothing is written to the repository, unlike
 * `git worktree add`), with a node_modules that links every installed
 * package of this checkout except our own workspaces, which point into the
 * old tree. The package manifests must not have changed since `rev` (the
 * bench checks), so the installed dependencies are the ones it ran with.
 */

export interface BaselineTree {
  rev: string;
  commit: string;
  subject: string;
  dir: string;
}

const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();

export function prepareBaseline(rev: string): BaselineTree {
  const commit = git('rev-parse', '--verify', `${rev}^{commit}`);
  const subject = git('log', '-1', '--format=%s', commit);
  const manifests = git('diff', '--name-only', commit, 'HEAD', '--', 'package.json', 'package-lock.json', 'apps/*/package.json', 'packages/*/package.json');
  if (manifests)
    throw new Error(`the package manifests changed since ${rev} (${manifests.split('\n').join(', ')}): its dependencies are not the installed ones`);
  const dir = mkdtempSync(join(tmpdir(), `bazaar-baseline-${commit.slice(0, 7)}-`));
  const tar = spawnSync('sh', ['-c', `git -C "${ROOT}" archive --format=tar ${commit} | tar -x -C "${dir}"`], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`git archive ${commit}: ${tar.stderr}`);

  const nm = join(dir, 'node_modules');
  mkdirSync(nm);
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry === '@bazaar') {
      mkdirSync(join(nm, '@bazaar'));
      // The workspace links are relative (../../packages/db): the same link inside the old tree points at the old code.
      for (const ws of readdirSync(join(ROOT, 'node_modules', '@bazaar')))
        symlinkSync(readlinkSync(join(ROOT, 'node_modules', '@bazaar', ws)), join(nm, '@bazaar', ws));
    } else symlinkSync(join(ROOT, 'node_modules', entry), join(nm, entry));
  }
  // A workspace's own node_modules (a version that differs from the root's).
  for (const group of ['apps', 'packages']) {
    for (const ws of readdirSync(join(ROOT, group))) {
      const own = join(ROOT, group, ws, 'node_modules');
      if (existsSync(own) && existsSync(join(dir, group, ws)) && !existsSync(join(dir, group, ws, 'node_modules')))
        symlinkSync(own, join(dir, group, ws, 'node_modules'));
    }
  }
  return { rev, commit, subject, dir };
}

export function removeBaseline(tree: BaselineTree | null): void {
  if (tree) rmSync(tree.dir, { recursive: true, force: true });
}

/** The old tree's own migrations, on its own database (created if needed). */
export function migrateBaseline(tree: BaselineTree, mysqlUrl: string, redisUrl: string): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'packages/db/src/cli/migrate.ts'], {
    cwd: tree.dir,
    env: { ...process.env, NODE_ENV: 'production', MYSQL_URL: mysqlUrl, REDIS_URL: redisUrl },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`migrating the baseline database: ${r.stderr || r.stdout}`);
}

const ENTRY = { api: 'apps/api/src/main.ts', worker: 'apps/worker/src/main.ts' } as const;

/**
 * Starts the old tree's api or a worker the way processes.ts starts today's
 * (`node --import tsx <entry>` on a free port, ready when /readyz answers),
 * registered in the same `running` set so every way out stops it.
 */
export async function startBaselineProcess(tree: BaselineTree, kind: 'api' | 'worker', name: string, env: Record<string, string>): Promise<BenchProcess> {
  const port = await freePort();
  const portVar = kind === 'api' ? 'API_PORT' : 'WORKER_METRICS_PORT';
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY[kind]], {
    cwd: tree.dir,
    env: { ...process.env, NODE_ENV: 'production', API_HOST: '127.0.0.1', ...env, [portVar]: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const tally: LogTally = { warn: 0, error: 0, messages: new Map() };
  const collect = (b: Buffer) => {
    for (const line of b.toString().split('\n')) {
      if (!line) continue;
      logs.push(line);
      let level = 0;
      let msg = line;
      try {
        const j = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        level = j.level ?? 0;
        msg = `${j.msg ?? ''}${j.err?.message ? `: ${j.err.message}` : ''}`;
      } catch {
        level = /error|exception|fail/i.test(line) ? 50 : 0;
      }
      if (level >= 50) tally.error++;
      else if (level >= 40) tally.warn++;
      const key = msg.slice(0, 200);
      if (level >= 40 && (tally.messages.has(key) || tally.messages.size < 12)) tally.messages.set(key, (tally.messages.get(key) ?? 0) + 1);
    }
    if (logs.length > 2000) logs.splice(0, logs.length - 2000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: BenchProcess = {
    name,
    kind,
    pid: child.pid ?? 0,
    port,
    metricsPort: port, // the old tree's api served /metrics on its one port
    child,
    logs,
    tally,
    async stop(graceMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      running.delete(proc);
      return child.exitCode;
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  const until = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} while starting:\n${logs.slice(-20).join('\n')}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return proc;
    if (Date.now() > until) {
      await proc.stop(1000);
      throw new Error(`${name} not ready within 90 s:\n${logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}
