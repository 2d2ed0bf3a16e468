#!/usr/bin/env node
/** `npm run down`: stops what `npm run up` started (SIGTERM, then SIGKILL after 15 s). */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PIDS = join(dirname(fileURLToPath(import.meta.url)), '..', '.run', 'pids');
const quiet = process.argv.includes('--quiet');
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const files = existsSync(PIDS) ? readdirSync(PIDS).filter((f) => f.endsWith('.pid')) : [];
const running = files
  .map((f) => ({ name: f.replace(/\.pid$/, ''), file: join(PIDS, f), pid: Number(readFileSync(join(PIDS, f), 'utf8')) }))
  .filter((p) => {
    if (alive(p.pid)) return true;
    rmSync(p.file, { force: true });
    return false;
  });
if (running.length === 0) {
  if (!quiet) console.log('nothing is running');
  process.exit(0);
}
for (const p of running) process.kill(p.pid, 'SIGTERM');
const until = Date.now() + 15_000;
while (running.some((p) => alive(p.pid)) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
for (const p of running) {
  if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
  rmSync(p.file, { force: true });
  if (!quiet) console.log(`stopped ${p.name} (pid ${p.pid})`);
}
