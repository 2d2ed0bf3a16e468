import { EventEmitter } from 'node:events';
import { slackReceiver as receiver, waitFor as until } from '../../../test/support/slack-receiver';
import { ErrorNotifier, redact, reportFatalErrors } from './error-notifier';

function failing(message: string, name = 'Error'): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

describe('ErrorNotifier', () => {
  it('posts the first of a kind at once, counts 200 repeats into one message, paces posts, keeps kinds apart', async () => {
    const slack = await receiver();
    const n = new ErrorNotifier({ webhookUrl: slack.url, service: 'api', minIntervalMs: 200, repeatEveryMs: 60_000 });
    const t0 = Date.now();
    const boom = () => failing('pool exhausted');
    n.report(boom(), { procedure: 'orders.place', requestId: 'req-1' });
    for (let i = 0; i < 200; i++) n.report(boom(), { procedure: 'orders.place', requestId: `req-${i + 2}` });
    n.report(failing('deadlock'), { job: 'orders', requestId: 'req-job' });
    await until(() => slack.posts.length >= 2);
    expect(slack.posts[0]!.at - t0).toBeLessThan(1_000);
    expect(slack.posts[0]!.text).toMatch(/\*api\*: `Error` in procedure orders\.place: pool exhausted/);
    expect(slack.posts[0]!.text).toContain('request id `req-1`');
    expect(slack.posts[1]!.text).toContain('in job orders: deadlock');
    n.summarize();
    await until(() => slack.posts.length >= 3);
    expect(slack.posts).toHaveLength(3);
    expect(slack.posts[2]!.text).toMatch(/in procedure orders\.place ×200 more \(201 since .*\), last request id `req-201`/);
    for (let i = 1; i < slack.posts.length; i++) expect(slack.posts[i]!.at - slack.posts[i - 1]!.at).toBeGreaterThanOrEqual(190);
    await n.close();
    await slack.close();
  });

  it("waits out a 429's Retry-After, then delivers", async () => {
    const slack = await receiver([{ status: 429, retryAfter: '1' }]);
    const n = new ErrorNotifier({ webhookUrl: slack.url, service: 'worker', minIntervalMs: 50 });
    const t0 = Date.now();
    n.report(failing('lost connection'), { job: 'refunds' });
    await until(() => slack.posts.length === 1, 4_000);
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]!.at - t0).toBeGreaterThanOrEqual(950);
    expect(n.dropped).toBe(0);
    await n.close();
    await slack.close();
  });

  it('never throws nor waits in report(), with Slack unreachable; gives a message up after 3 failures', async () => {
    const slack = await receiver();
    await slack.close(); // nothing listens there now
    const n = new ErrorNotifier({ webhookUrl: slack.url, service: 'scheduler', minIntervalMs: 10 });
    const t0 = performance.now();
    for (let i = 0; i < 1_000; i++) n.report(i % 2 ? failing(`x${i}`) : `a string thrown ${i}`, { job: 'reconcile' });
    expect(performance.now() - t0).toBeLessThan(200);
    await until(() => n.dropped > 0, 10_000);
    expect(n.dropped).toBeGreaterThan(0);
    expect(n.sent).toEqual([]);
    await n.close(100);
  });

  it('redacts secrets from what it posts, and without a webhook sends nothing', async () => {
    const slack = await receiver();
    const n = new ErrorNotifier({ webhookUrl: slack.url, service: 'api', minIntervalMs: 10 });
    n.report(failing('gateway said no to Bearer abc.def-123 with live_sk_9f8e7d and password=hunter2 at mysql://bazaar:s3cr3t@db:3306/x'), {
      procedure: 'refunds.request',
    });
    await until(() => slack.posts.length === 1);
    const text = slack.posts[0]!.text;
    for (const secret of ['abc.def-123', '9f8e7d', 'hunter2', 's3cr3t']) expect(text).not.toContain(secret);
    expect(text).toContain('Bearer [redacted]');
    expect(redact('x'.repeat(1_000)).length).toBeLessThanOrEqual(301);
    await n.close();
    await slack.close();

    const off = new ErrorNotifier({ webhookUrl: undefined, service: 'api' });
    expect(off.enabled).toBe(false);
    off.report(new Error('nobody hears'));
    await off.close(10);
    expect(off.sent).toEqual([]);
  });
});

describe('reportFatalErrors', () => {
  it('logs, posts to Slack and then exits 1, once, on an unhandled rejection', async () => {
    const slack = await receiver();
    const n = new ErrorNotifier({ webhookUrl: slack.url, service: 'worker', minIntervalMs: 10 });
    const exits: number[] = [];
    const proc = Object.assign(new EventEmitter(), { exit: (code: number) => void exits.push(code) });
    const logged: string[] = [];
    reportFatalErrors(n, { fatal: (_o: unknown, msg?: string) => void logged.push(msg ?? '') } as never, proc as never, 2_000);
    proc.emit('unhandledRejection', failing('nobody awaited me'));
    proc.emit('uncaughtException', failing('and then this'));
    await until(() => exits.length > 0, 4_000);
    expect(exits).toEqual([1]);
    expect(logged).toEqual(['unhandled rejection: exiting']);
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]!.text).toContain('in job unhandled rejection: nobody awaited me');
    await slack.close();
  });
});
