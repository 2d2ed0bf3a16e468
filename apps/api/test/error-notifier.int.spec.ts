import { newAccount, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { slackReceiver, waitFor } from '../../../test/support/slack-receiver';
import { refusalData } from '../../../test/support/trpc-expect';

/** The api tells on-call's Slack of unexpected errors (INTERNAL_SERVER_ERROR), with the procedure and request id; never of refusals. */
describe('error notifications from the api', () => {
  let api: TestApi;
  let slack: Awaited<ReturnType<typeof slackReceiver>>;
  beforeAll(async () => {
    slack = await slackReceiver();
    api = await startTestApi({ SLACK_WEBHOOK_URL: slack.url });
  });
  afterAll(async () => {
    await api?.close();
    await slack?.close();
  });

  it('bad input and business refusals are not reported; MySQL gone under a procedure is, once, with its request id', async () => {
    const buyer = await newAccount(api, 'CUSTOMER');
    expect(await refusalData(buyer.client.orders.get.query({ orderId: 'nope' }))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await refusalData(buyer.client.orders.get.query({ orderId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }))).toMatchObject({ code: 'NOT_FOUND' });
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.posts).toEqual([]);

    await api.deps.ds.destroy(); // the primary is gone for this process
    const answers = await Promise.all(
      [1, 2, 3].map((i) =>
        fetch(`${api.url}/trpc/orders.list?input=${encodeURIComponent('{}')}`, {
          headers: { authorization: `Bearer ${buyer.token}`, 'x-request-id': `slack-test-${i}` },
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([500, 500, 500]);
    await waitFor(() => slack.posts.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.posts).toHaveLength(1); // the other two are counted for the next summary
    expect(slack.posts[0]!.text).toMatch(/\*api\*: `\w+` in procedure orders\.list/);
    expect(slack.posts[0]!.text).toMatch(/request id `slack-test-[123]`/);
    api.deps.notifier.summarize();
    await waitFor(() => slack.posts.length >= 2);
    expect(slack.posts[1]!.text).toMatch(/in procedure orders\.list ×2 more/);
  });
});
