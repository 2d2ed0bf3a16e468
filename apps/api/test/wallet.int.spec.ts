import { LIMITS, type WalletEntryView } from '@bazaar/contracts';
import { bazaarClient, type BazaarClient } from '../../../scripts/lib/client';
import { newAccount, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { refusal } from '../../../test/support/trpc-expect';

/** wallet.charge: idempotent under concurrency, serialised balances, the balance limit. */
describe('wallet.charge', () => {
  let api: TestApi;
  /** Unbatched clients: every call is its own HTTP request, so concurrent calls really race. */
  let sameKey: BazaarClient;
  let manyKeys: BazaarClient;
  let nearLimit: { client: BazaarClient; userId: number };

  beforeAll(async () => {
    api = await startTestApi();
    const [a, b, c] = await Promise.all([newAccount(api, 'CUSTOMER'), newAccount(api, 'CUSTOMER'), newAccount(api, 'CUSTOMER')]);
    const unbatched = (token: string) => bazaarClient(api.url, { token, batch: false });
    sameKey = unbatched(a.token);
    manyKeys = unbatched(b.token);
    nearLimit = { client: unbatched(c.token), userId: c.user.id };
  });

  afterAll(async () => {
    await api?.close();
  });

  /** The whole ledger, newest first, following the cursor. */
  async function ledger(client: BazaarClient): Promise<WalletEntryView[]> {
    const all: WalletEntryView[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await client.wallet.history.query({ limit: 100, cursor });
      all.push(...page.items);
      if (!page.nextCursor) return all;
      cursor = page.nextCursor;
    }
  }

  it('50 concurrent charges with the same key and amount: one effect, 50 identical answers', async () => {
    const input = { amount: 12_345, idempotencyKey: 'same-key-50x' };
    const answers = await Promise.all(Array.from({ length: 50 }, () => sameKey.wallet.charge.mutate(input)));

    expect(answers).toHaveLength(50);
    for (const a of answers) expect(a).toEqual(answers[0]);
    expect(answers[0]).toEqual({ entryId: expect.any(Number) as number, amount: 12_345, balanceAfter: 12_345 });

    expect(await sameKey.wallet.balance.query()).toEqual({ balance: 12_345 });
    const entries = await ledger(sameKey);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ id: answers[0]!.entryId, kind: 'CHARGE', amount: 12_345, balanceAfter: 12_345, ref: 'same-key-50x' });
  });

  it('the same key with another amount → CONFLICT, and nothing changes', async () => {
    const err = await refusal(sameKey.wallet.charge.mutate({ amount: 999, idempotencyKey: 'same-key-50x' }));
    expect(err.data?.code).toBe('CONFLICT');
    expect(err.data?.httpStatus).toBe(409);

    // Still replayable with the first parameters.
    const replay = await sameKey.wallet.charge.mutate({ amount: 12_345, idempotencyKey: 'same-key-50x' });
    expect(replay).toMatchObject({ amount: 12_345, balanceAfter: 12_345 });
    expect(await sameKey.wallet.balance.query()).toEqual({ balance: 12_345 });
    expect(await ledger(sameKey)).toHaveLength(1);
  });

  it('100 concurrent charges with different keys: balance = sum, balanceAfter values distinct and chained', async () => {
    const amounts = Array.from({ length: 100 }, (_, i) => i + 1);
    const answers = await Promise.all(amounts.map((amount, i) => manyKeys.wallet.charge.mutate({ amount, idempotencyKey: `many-keys-${i}` })));
    const sum = amounts.reduce((s, a) => s + a, 0);

    expect(new Set(answers.map((a) => a.entryId)).size).toBe(100);
    expect(await manyKeys.wallet.balance.query()).toEqual({ balance: sum });

    const entries = await ledger(manyKeys); // newest first
    expect(entries).toHaveLength(100);
    expect(entries.every((e) => e.kind === 'CHARGE')).toBe(true);
    expect(new Set(entries.map((e) => e.balanceAfter)).size).toBe(100);
    expect(entries[0]!.balanceAfter).toBe(sum);
    // Oldest first, each entry builds on the one before: the charges were serialised.
    const chronological = [...entries].reverse();
    let running = 0;
    for (const e of chronological) {
      running += e.amount;
      expect(e.balanceAfter).toBe(running);
    }
    // Each answer matches its ledger row.
    const byId = new Map(entries.map((e) => [e.id, e]));
    for (const a of answers) expect(byId.get(a.entryId)).toMatchObject({ amount: a.amount, balanceAfter: a.balanceAfter });
  });

  it('a charge that would exceed LIMITS.maxWalletBalance → BAD_REQUEST naming amount, and nothing changes', async () => {
    // Keys are per customer: another customer's key is free here.
    await nearLimit.client.wallet.charge.mutate({ amount: 1_000, idempotencyKey: 'same-key-50x' });
    // Reaching the limit by API would take 100,000 maximal charges: put the account just under it.
    const start = LIMITS.maxWalletBalance - 5;
    await api.deps.ds.query('UPDATE wallet_accounts SET balance = ? WHERE user_id = ?', [start, nearLimit.userId]);
    const before = await ledger(nearLimit.client);

    for (const amount of [6, LIMITS.maxWalletCharge]) {
      const err = await refusal(nearLimit.client.wallet.charge.mutate({ amount, idempotencyKey: `over-limit-${amount}` }));
      expect(err.data?.code).toBe('BAD_REQUEST');
      expect(err.data?.httpStatus).toBe(400);
      expect(err.data).toMatchObject({ issues: [{ path: 'amount' }] });
      expect(err.message).toContain('amount');
      expect(await nearLimit.client.wallet.balance.query()).toEqual({ balance: start });
      expect(await ledger(nearLimit.client)).toEqual(before);
    }

    // Exactly up to the limit is fine; one more won is not.
    const filled = await nearLimit.client.wallet.charge.mutate({ amount: 5, idempotencyKey: 'up-to-the-limit' });
    expect(filled.balanceAfter).toBe(LIMITS.maxWalletBalance);
    const err = await refusal(nearLimit.client.wallet.charge.mutate({ amount: 1, idempotencyKey: 'one-won-over' }));
    expect(err.data?.code).toBe('BAD_REQUEST');
    expect(await nearLimit.client.wallet.balance.query()).toEqual({ balance: LIMITS.maxWalletBalance });
  });
});
