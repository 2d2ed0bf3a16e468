import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ensureAdminAccount } from '@bazaar/api/hosting';
import { OrderJobName, QueueName } from '@bazaar/queue';
import { eventually, startTestApi, uniqueEmail, type TestApi } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { startProcess, type RunningProcess } from '../support/processes';

/** Debian's chromium (apt-get install chromium), or CHROMIUM_PATH. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where the screenshots land: test-output/ at the repository's root (git-ignored). */
const OUTPUT = join(__dirname, '..', '..', 'test-output', 'browser');
const haveBrowser = existsSync(CHROMIUM);
// CI must run it (.ci/run installs chromium); a developer machine without one says so and skips.
if (!haveBrowser && process.env.CI) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
if (!haveBrowser) process.stderr.write(`bull-board.browser.spec: skipped, no Chromium at ${CHROMIUM} (apt-get install chromium)\n`);
const describeWithBrowser = haveBrowser ? describe : describe.skip;

/**
 * Issue 13, part 8: a real browser (headless Chromium driven by playwright-core) signs in to the admin console,
 * sees both queues, and opens a failed job's detail (a malformed job a real worker refused). Screenshots of the
 * queue list and the failed job land in test-output/browser/.
 */
describeWithBrowser('Bull Board in a real browser', () => {
  jest.setTimeout(90_000);
  let api: TestApi;
  let worker: RunningProcess;
  let browser: Browser;
  const email = uniqueEmail('board-admin');
  const password = 'a-board-admin-password';
  const jobId = `malformed-${Date.now().toString(36)}`;

  beforeAll(async () => {
    const env = await isolatedEnv('board');
    [api, worker, browser] = await Promise.all([
      startTestApi({ ...env }),
      startProcess('worker', { ...env, LOG_LEVEL: 'warn' }),
      chromium.launch({
        executablePath: CHROMIUM,
        // As root in a sandbox of its own, with this machine's closed network: no sandbox, no background traffic.
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
    ]);
    await ensureAdminAccount(api.deps.ds, { ADMIN_EMAIL: email, ADMIN_PASSWORD: password });
    // A job the worker refuses for good (its payload fails the schema): one failed job, with its reason.
    await api.deps.ordersQueue.add(OrderJobName.APPLY, { orderId: 'not-an-order' } as never, { jobId });
    await eventually(
      () => api.deps.ordersQueue.getJobState(jobId),
      (s) => s === 'failed',
    );
    mkdirSync(OUTPUT, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await worker?.stop();
    await api?.close();
  });

  it('signs in, sees the queues and a failed job’s detail', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    // The board's own requests and scripts must all succeed (an outside font the closed network cannot reach aside).
    const broken: string[] = [];
    page.on('pageerror', (err) => broken.push(`script error: ${err.message}`));
    page.on('response', (res) => {
      const url = new URL(res.url());
      if (url.origin === api.url && url.pathname.startsWith('/admin/queues') && res.status() >= 400) broken.push(`${res.status()} ${url.pathname}`);
    });
    page.on('requestfailed', (req) => {
      if (new URL(req.url()).origin === api.url) broken.push(`failed ${req.url()}`);
    });

    // The board sends a visitor to sign in, and back to it after.
    await page.goto(`${api.url}/admin/queues`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('wrong email or password');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/admin/queues'));

    // Both queues are listed.
    for (const name of [QueueName.ORDERS, QueueName.REFUNDS]) await page.getByText(name, { exact: true }).first().waitFor();
    await page.screenshot({ path: join(OUTPUT, 'bull-board-queues.png'), fullPage: true });

    // The failed job, with the worker's reason.
    await page.goto(`${api.url}/admin/queues/queue/${QueueName.ORDERS}?status=failed`);
    await page.getByText(jobId).first().waitFor();
    await page.getByText(`malformed ${OrderJobName.APPLY} job ${jobId}`).first().waitFor();
    await page.screenshot({ path: join(OUTPUT, 'bull-board-failed-job.png'), fullPage: true });
    expect(existsSync(join(OUTPUT, 'bull-board-failed-job.png'))).toBe(true);

    // The board's own changes pass the cross-site check: "Retry all" (the worker fails the job again).
    const retried = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith(`/queues/${QueueName.ORDERS}/retry/failed`));
    await page.getByRole('button', { name: 'Retry all' }).click();
    await page.getByRole('button', { name: /confirm/i }).click(); // the board asks first
    expect((await retried).status()).toBeLessThan(300);
    await eventually(
      async () => (await api.deps.ordersQueue.getJob(jobId))?.attemptsMade ?? 0,
      (n) => n >= 2,
    );
    expect(broken).toEqual([]);

    // The session cookie is HttpOnly: the page's scripts cannot read it.
    expect(await page.evaluate('document.cookie')).toBe('');
    await context.close();
  });
});
