import { getPriority } from 'node:os';
import { request } from 'node:http';
import { freePort, startProcess, type RunningProcess } from '../support/processes';
import { isolatedEnv } from '../support/isolated-env';
import type { TestEnv } from '../support/test-env';

/** GET on a fresh connection (no keep-alive): the kernel picks the listening process for each. */
function getFresh(port: number, path: string): Promise<{ status: number; requestId: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Request ids the api makes start with its pid in base 36 (server.ts genReqId). */
const servedBy = (requestId: string, procs: RunningProcess[]) => procs.find((p) => requestId.startsWith(`${(p.child.pid ?? 0).toString(36)}-`));

/**
 * Running several processes on one host: api processes sharing a port (API_REUSE_PORT, SO_REUSEPORT) and
 * workers below the api's CPU priority (WORKER_NICE).
 */
describe('process placement on one host', () => {
  jest.setTimeout(120_000);
  let env: TestEnv;
  const procs: RunningProcess[] = [];

  beforeAll(async () => {
    env = await isolatedEnv('placement');
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
  });

  it('two api processes with API_REUSE_PORT share one port: both answer, and when one stops the other still does', async () => {
    const port = String(await freePort());
    const first = await startProcess('api', { ...env, API_PORT: port, API_REUSE_PORT: 'true' });
    procs.push(first);
    const second = await startProcess('api', { ...env, API_PORT: port, API_REUSE_PORT: 'true' });
    procs.push(second);
    const apis = [first, second];
    const answers = await Promise.all(Array.from({ length: 200 }, () => getFresh(Number(port), '/healthz')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const by = answers.map((a) => servedBy(a.requestId, apis));
    expect(by.every(Boolean)).toBe(true);
    // The kernel spreads new connections over both (200 connections: each process gets some).
    expect(by.filter((p) => p === first).length).toBeGreaterThan(10);
    expect(by.filter((p) => p === second).length).toBeGreaterThan(10);

    expect(await first.stop()).toBe(0);
    const after = await Promise.all(Array.from({ length: 50 }, () => getFresh(Number(port), '/healthz')));
    expect(after.every((a) => a.status === 200 && servedBy(a.requestId, apis) === second)).toBe(true);
  });

  it('an api without API_REUSE_PORT refuses a port another process holds', async () => {
    const port = String(await freePort());
    procs.push(await startProcess('api', { ...env, API_PORT: port }));
    await expect(startProcess('api', { ...env, API_PORT: port })).rejects.toThrow(/exited with 1/);
  });

  it('a worker with WORKER_NICE runs at that CPU niceness, one without it at the default 0', async () => {
    const nice = await startProcess('worker', { ...env, WORKER_NICE: '7' });
    procs.push(nice);
    const plain = await startProcess('worker', { ...env });
    procs.push(plain);
    expect(getPriority(nice.child.pid)).toBe(7);
    expect(getPriority(plain.child.pid)).toBe(0);
    expect(nice.logs.some((l) => l.includes('worker runs at a lower CPU priority'))).toBe(true);
  });
});
