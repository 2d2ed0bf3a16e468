import { TRPCClientError } from '@trpc/client';
import type { ZodType } from 'zod';
import { appRouter } from '@bazaar/api/hosting';
import { bazaarClient } from '../../scripts/lib/client';
import { CALLERS, FIELD_VALUES, ID_FIELDS, KEYED, RETRY_KEYS, RULES, TABLE, type CallCtx, type Caller, type Expect } from './access-table';
import { documentedWho, saysWho } from './contract-doc';
import { buildInput, idKeys, listedIdKeys } from './input-schema';
import { buildWorld, type Account, type Ids, type World } from './world';

/**
 * The ownership sweep (issue 13, part 5): every procedure of the router whose input names a resource (an id, a
 * billing key, an admission token), called with the owners' values by seven callers — nobody signed in, another
 * customer, another seller, an admin, the other party of the resource (the store's seller for a customer's order,
 * the customer for a seller's store), a seller sharing the owners' order, and the owner — and each gets what
 * docs/api.md's "Accounts and access" and "who" column say: only the owner (and those the contract names) gets
 * through; another customer's order answers NOT_FOUND exactly as an order that does not exist. Then the owner names
 * someone else's resource in each field in turn; strangers' own lists hold nothing of the owners'; retry keys are
 * each caller's own.
 *
 * The procedures are read from the router at run time, their id fields from their zod inputs: a new procedure
 * that takes an id fails here, by name, until access-table.ts classifies it.
 */

interface Procedure {
  _def: { type: 'query' | 'mutation' | 'subscription'; inputs: ZodType[] };
}
const procedures = appRouter._def.procedures as unknown as Record<string, Procedure>;
/** Each procedure, its id-like keys, and of those the ones that name a resource (or that the sweep does not know: it fails on them). */
const survey = Object.entries(procedures).map(([path, p]) => {
  const ids = idKeys(p._def.inputs[0]);
  const refs = ids.filter((key) => ID_FIELDS[key] !== null);
  return { path, type: p._def.type, schema: p._def.inputs[0], ids, refs, listed: listedIdKeys(p._def.inputs[0]).filter((key) => refs.includes(key)) };
});
const swept = survey.filter((p) => p.refs.length > 0);

/** The answer of one call: through, or refused (its tRPC code, data.reason, message). */
type Outcome = 'OK' | { code: string; reason?: string; fields: string[]; message: string };

function outcomeOf(err: unknown): Outcome {
  if (!(err instanceof TRPCClientError)) throw err;
  const data = err.data as { code?: string; reason?: string; issues?: { path: string }[] } | undefined;
  return {
    code: data?.code ?? 'NO_CODE',
    ...(data?.reason !== undefined ? { reason: data.reason } : {}),
    fields: (data?.issues ?? []).map((i) => i.path),
    message: err.message,
  };
}

type Callable = {
  query(input: unknown): Promise<unknown>;
  mutate(input: unknown): Promise<unknown>;
  subscribe(input: unknown, opts: { onData(data: unknown): void; onError(err: unknown): void }): { unsubscribe(): void };
};

/**
 * Calls `path` as the typed client does: `plain`, one call per request (as httpLink sends it, which the api's fast
 * paths answer: orders.place, products.get, products.list, waitingRoom.status), or in a `batch` (always tRPC's own
 * route). A subscription counts as through once its first event arrives (its data is that event's).
 */
async function call(
  w: World,
  caller: Account | null,
  type: Procedure['_def']['type'],
  path: string,
  input: unknown,
  transport: 'plain' | 'batch' = 'plain',
): Promise<{ outcome: Outcome; data?: unknown }> {
  const client = bazaarClient(w.api.url, { ...(caller ? { token: caller.token } : {}), batch: transport === 'batch' }) as unknown as Record<
    string,
    Record<string, Callable>
  >;
  const [router, name] = path.split('.') as [string, string];
  const procedure = client[router]![name]!;
  if (type === 'subscription') {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${path}: neither an event nor an error within 10 s`)), 10_000);
      const done = (answer: { outcome: Outcome; data?: unknown }) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(answer);
      };
      const sub = procedure.subscribe(input, {
        onData: (data: unknown) => done({ outcome: 'OK', data }),
        onError: (err) => done({ outcome: outcomeOf(err) }),
      });
    });
  }
  return (type === 'query' ? procedure.query(input) : procedure.mutate(input)).then(
    (data) => ({ outcome: 'OK' as const, data }),
    (err: unknown) => ({ outcome: outcomeOf(err) }),
  );
}

/** Callers that are party to none of the owners' resources: nothing they are answered may hold the owners' secrets. */
const STRANGERS: readonly Caller[] = ['anonymous', 'another customer', 'another seller'];
/** The owners' secrets (their order's and refund's ids, card key, admission token, chat message) an answer holds. */
const secretsIn = (w: World, data: unknown): string[] => {
  const text = JSON.stringify(data) ?? '';
  return w.secrets.filter((secret) => text.includes(secret));
};

/** Ids no resource has: what a stranger's refusal is compared with. */
const MISSING: Partial<Record<keyof Ids, string>> = { order: '7ZZZZZZZZZZZZZZZZZZZZZZZZZ', refund: '7ZZZZZZZZZZZZZZZZZZZZZZZZZ' };
const missingId = (kind: keyof Ids): string | number => MISSING[kind] ?? Number.MAX_SAFE_INTEGER;

/** The value of one input field: an id from `ids` (as an array for `…Ids`), a known field's value, or none. */
function fieldValue(key: string, ids: Ids): unknown {
  const kind = ID_FIELDS[key];
  if (kind) return key.endsWith('Ids') ? [ids[kind]] : ids[kind];
  return FIELD_VALUES[key]?.();
}

const label = (e: Expect) => (e === 'OK' ? 'gets through' : [e.code, e.reason, e.field && `at ${e.field}`].filter(Boolean).join(' '));
const ruleOf = (path: string) => {
  const entry = TABLE[path];
  const rule = entry && RULES[entry.who];
  return entry && rule ? { entry, rule } : null;
};
const expectationOf = (path: string, caller: Caller): Expect | null => {
  const found = ruleOf(path);
  return found ? (found.entry.except?.callers[caller] ?? found.rule.expect[caller]) : null;
};
/** The owner naming someone else's resource in `key`: the entry's swap, or for the subject what a stranger of the owner's role gets. */
const swapExpectationOf = (path: string, key: string, keys: string[]): Expect | null => {
  const found = ruleOf(path);
  if (!found) return null;
  const given = found.entry.swap?.[key];
  if (given) return given;
  return key === keys[0] ? found.rule.expect[found.rule.owner === 'customer' ? 'another customer' : 'another seller'] : null;
};

type Surveyed = (typeof swept)[number];
/** The reads that name nothing: the caller's own lists and views (orders.list, chat.threads, wallet.history…). */
const ownReads = survey.filter((p) => p.refs.length === 0 && p.type === 'query');

describe('ownership sweep: every procedure that takes an id, as seven callers', () => {
  jest.setTimeout(60_000);
  let w: World;

  beforeAll(async () => {
    w = await buildWorld();
  }, 90_000);
  afterAll(async () => {
    await w?.close();
  });

  it('every procedure that takes an id is classified by the words of docs/api.md, and every id field has a fixture', () => {
    const doc = documentedWho();
    const problems: string[] = [];
    for (const p of swept) {
      const entry = TABLE[p.path];
      if (!entry) {
        problems.push(`${p.path} takes ${p.refs.join(', ')} but is not classified: add it to TABLE in test/ownership/access-table.ts`);
        continue;
      }
      if (!RULES[entry.who]) problems.push(`${p.path}: no rule for "${entry.who}"`);
      const texts = doc.get(p.path) ?? [];
      if (!texts.some((t) => saysWho(t, entry.who))) problems.push(`${p.path}: classified as "${entry.who}", docs/api.md says ${JSON.stringify(texts)}`);
      for (const key of p.ids) if (!(key in ID_FIELDS)) problems.push(`${p.path}: no fixture for its id field ${key} (ID_FIELDS)`);
      for (const key of p.listed) if (entry.mixed?.[key] === undefined) problems.push(`${p.path}: no mixed expectation for its listed id field ${key}`);
    }
    const stale = Object.keys(TABLE).filter((path) => !swept.some((p) => p.path === path));
    for (const path of stale) problems.push(`${path} is in TABLE but the router has no such procedure taking an id`);
    expect(problems).toEqual([]);
    // What the sweep leaves out names nothing of anyone's: no id at all (auth, the caller's own lists), or only keys of the caller's own making.
    expect(
      survey
        .filter((p) => p.refs.length === 0)
        .flatMap((p) => p.ids)
        .every((key) => ID_FIELDS[key] === null),
    ).toBe(true);
  });

  /**
   * One call: `caller` names the owners' ids (or the owner names a stranger's resource in `variant.key`: instead of
   * theirs, `swap`, or after theirs in a list, `mixed`); the answer must be `expected`; a refused call leaves the
   * watched state as it was; a NOT_FOUND matches what a missing id answers.
   */
  async function runCase(
    c: Surveyed,
    caller: Caller,
    expected: Expect | null,
    variant?: { key: string; mode: 'swap' | 'mixed' },
    override: Partial<Ids> = {},
  ): Promise<void> {
    const found = ruleOf(c.path);
    if (!found || !expected) {
      throw new Error(
        variant
          ? `${c.path}: its id field ${variant.key} has no ${variant.mode} expectation (test/ownership/access-table.ts)`
          : `${c.path} takes ${c.refs.join(', ')} but the ownership sweep has not classified it (test/ownership/access-table.ts)`,
      );
    }
    const unknown = c.ids.filter((key) => !(key in ID_FIELDS));
    if (unknown.length > 0) throw new Error(`${c.path}: the ownership sweep has no fixture for ${unknown.join(', ')} (ID_FIELDS)`);
    const { entry, rule } = found;
    const owner = rule.owner === 'customer' ? w.ownerCustomer : w.ownerSeller;
    const party = rule.owner === 'customer' ? w.ownerSeller : w.ownerCustomer;
    const account: Account | null = {
      anonymous: null,
      'another customer': w.otherCustomer,
      'another seller': w.otherSeller,
      'an admin': w.admin,
      'the other party': party,
      'a seller sharing the order': w.coSeller,
      'the owner': owner,
    }[caller];

    const through = expected === 'OK';
    const swapped = variant ? ID_FIELDS[variant.key]! : null;
    const swap = (ids: Ids): Ids => (swapped ? { ...ids, [swapped]: { ...w.strangers, ...entry.strangers?.(w) }[swapped] } : ids);
    const mixed = variant?.mode === 'mixed';
    const own = (ids: Ids): Ids => (mixed ? ids : swap(ids));
    let ids: Ids = own({ ...w.ids, ...entry.ids?.(w), ...override });
    if (through && entry.fresh) ids = own({ ...ids, ...(await entry.fresh(w)) });
    const ctx: CallCtx = { w, caller: account, ids };
    if (through) await entry.prepare?.(ctx);
    const extra = (await entry.input?.(ctx)) ?? {};
    const valuesOf = (values: Ids) => (key: string) => (key in extra ? extra[key] : fieldValue(key, values));
    const inputFor = (values: Ids) => {
      if (!mixed) return buildInput(c.schema!, valuesOf(values));
      // The owner's first, then the stranger's: a list of ids gets both, a list of lines a second line.
      const alt = swap(values);
      const kind = swapped!;
      const firstThenTheirs = (key: string) => (key === variant.key && key.endsWith('Ids') ? [values[kind], alt[kind]] : valuesOf(values)(key));
      return buildInput(c.schema!, firstThenTheirs, valuesOf(alt));
    };
    const input = inputFor(ids);
    const parsed = c.schema!.safeParse(input);
    if (!parsed.success) throw new Error(`${c.path}: the sweep built an input its schema refuses: ${JSON.stringify(input)}: ${parsed.error.message}`);

    // Refused, or acting on their own (another customer's cart): the state watched is as it was.
    const watch = entry.untouched && (!through || (entry.who === 'customer' && caller !== 'the owner')) ? entry.untouched : null;
    const before = watch ? await watch(ctx) : null;
    const { outcome: got, data } = await call(w, account, c.type, c.path, input);
    // A read answers the same in a batch (tRPC's route) as alone (where a fast path may answer it).
    if (c.type === 'query') expect((await call(w, account, c.type, c.path, input, 'batch')).outcome).toEqual(got);
    if (STRANGERS.includes(caller)) expect(secretsIn(w, data)).toEqual([]);

    if (expected === 'OK' || got === 'OK') expect(got).toEqual(expected);
    else {
      const { code, reason, fields } = got;
      expect({
        code,
        ...(expected.reason !== undefined ? { reason } : {}),
        ...(expected.field !== undefined ? { field: fields.includes(expected.field) ? expected.field : fields.join(', ') } : {}),
        ...(code !== expected.code ? { message: got.message } : {}),
      }).toEqual(expected);
    }
    if (watch) expect(await watch(ctx)).toEqual(before);

    // Someone else's resource answers exactly like one that does not exist: the same code and message.
    if (got !== 'OK' && got.code === 'NOT_FOUND' && !mixed) {
      const subject = swapped ?? ID_FIELDS[c.refs[0]!]!;
      const real = String(ids[subject]);
      const { outcome: absent } = await call(w, account, c.type, c.path, inputFor({ ...ids, [subject]: missingId(subject) }));
      expect(absent).toEqual({ ...got, message: got.message.replace(new RegExp(`\\b${real}\\b`, 'g'), String(missingId(subject))) });
    }
  }

  // First, while the owners' secrets are where the world put them (a later chat.send moves the thread's last message):
  // "everyone sees only what is theirs": a stranger's own lists and views hold nothing of the owners'.
  // (A seller sharing the owners' order sees it in their inbox, which names a store; none of these reads does.)
  const readers = ['anonymous', 'another customer', 'another seller', 'a seller sharing the order'] as const;
  const reads = ownReads.flatMap((p) => readers.map((caller) => ({ p, caller })));
  test.each(reads.map((r) => [`${r.p.path} × ${r.caller} → nothing of the owners'`, r] as const))('%s', async (_title, r) => {
    const accounts: Record<(typeof readers)[number], Account | null> = {
      anonymous: null,
      'another customer': w.otherCustomer,
      'another seller': w.otherSeller,
      'a seller sharing the order': w.coSeller,
    };
    const account = accounts[r.caller];
    const input = r.p.schema ? buildInput(r.p.schema, (key) => FIELD_VALUES[key]?.()) : undefined;
    for (const transport of ['plain', 'batch'] as const) expect(secretsIn(w, (await call(w, account, r.p.type, r.p.path, input, transport)).data)).toEqual([]);
  });

  const cases = swept.flatMap((p) => CALLERS.map((caller) => ({ p, caller, expected: expectationOf(p.path, caller) })));
  test.each(cases.map((c) => [`${c.p.path} × ${c.caller} → ${c.expected ? label(c.expected) : 'NOT CLASSIFIED'}`, c] as const))('%s', (_title, c) =>
    runCase(c.p, c.caller, c.expected),
  );

  // Retry keys are the caller's: the same key and input from two callers are two intents, each answered with its own result.
  const keyed = survey.filter((p) => p.ids.some((key) => (RETRY_KEYS as readonly string[]).includes(key)));
  test.each(keyed.map((p) => [`${p.path} × the same retry key from two callers → each their own`, p] as const))('%s', async (_title, p) => {
    const entry = KEYED[p.path];
    if (!entry) throw new Error(`${p.path} takes a retry key but is not in KEYED (test/ownership/access-table.ts)`);
    const key = `shared-${Date.now().toString(36)}-${p.path.replace('.', '-')}`;
    const input = entry.input(w, key);
    expect(p.schema!.safeParse(input).success).toBe(true);
    const [first, second] = entry.callers(w);
    const a = await call(w, first, p.type, p.path, input);
    const b = await call(w, second, p.type, p.path, input);
    const again = await call(w, first, p.type, p.path, input);
    expect([a.outcome, b.outcome, again.outcome]).toEqual(['OK', 'OK', 'OK']);
    const idOf = (data: unknown) => (data as Record<string, unknown>)[entry.idOf];
    expect(idOf(a.data)).toBeDefined();
    expect(idOf(again.data)).toEqual(idOf(a.data)); // a retry answers the first call
    expect(idOf(b.data)).not.toEqual(idOf(a.data));
  });

  const swaps = swept.flatMap((p) => p.refs.map((key) => ({ p, key, expected: swapExpectationOf(p.path, key, p.refs) })));
  test.each(swaps.map((s) => [`${s.p.path} × the owner naming someone else's ${s.key} → ${s.expected ? label(s.expected) : 'NOT CLASSIFIED'}`, s] as const))(
    '%s',
    (_title, s) => runCase(s.p, 'the owner', s.expected, { key: s.key, mode: 'swap' }),
  );

  const mixes = swept.flatMap((p) => p.listed.map((key) => ({ p, key, expected: TABLE[p.path]?.mixed?.[key] })));
  test.each(
    mixes
      .filter((m) => m.expected !== null)
      .map(
        (m) => [`${m.p.path} × the owner listing their own then someone else's ${m.key} → ${m.expected ? label(m.expected) : 'NOT CLASSIFIED'}`, m] as const,
      ),
  )('%s', (_title, m) => runCase(m.p, 'the owner', m.expected ?? null, { key: m.key, mode: 'mixed' }));

  // Whatever state the owners' order is in, a stranger is told it does not exist (or fails the role check): no state leaks.
  const states = swept
    .filter((p) => p.refs.includes('orderId'))
    .flatMap((p) =>
      (['FAILED', 'CANCELLED'] as const).flatMap((state) =>
        (['another customer', 'another seller'] as const).map((caller) => ({ p, state, caller, expected: expectationOf(p.path, caller) })),
      ),
    );
  test.each(
    states.map((s) => [`${s.p.path} × ${s.caller}, on the owner's ${s.state} order → ${s.expected ? label(s.expected) : 'NOT CLASSIFIED'}`, s] as const),
  )('%s', (_title, s) => runCase(s.p, s.caller, s.expected, undefined, { order: w.ordersIn[s.state] }));

  it("a seller sharing the order moves and sees only their own store's part and lines: fulfillment, the inbox, refunds", async () => {
    const view = await w.ownerCustomer.client.orders.get.query({ orderId: w.ids.order });
    const theirLine = view.items.find((i) => i.productId === w.coProduct)!.orderItemId!;
    const partsOf = async () => (await w.ownerCustomer.client.orders.get.query({ orderId: w.ids.order })).stores.map((p) => [p.storeId, p.status]);
    const before = await partsOf();
    // Their own part moves; the owner store's part stays as it was.
    await w.coSeller.client.fulfillment.update.mutate({ orderId: w.ids.order, storeId: w.coStore, status: 'SHIPPED', trackingNumber: 'THEIRS-0001' });
    expect(await partsOf()).toEqual(before.map(([storeId, status]) => [storeId, storeId === w.coStore ? 'SHIPPED' : status]));
    // One refund of a line of each store: the seller sharing the order sees it, with their line only.
    const { refundId } = await w.ownerCustomer.client.refunds.request.mutate({
      orderId: w.ids.order,
      idempotencyKey: `mixed-${Date.now().toString(36)}`,
      items: [
        { orderItemId: w.ids.orderItem, quantity: 1 },
        { orderItemId: theirLine, quantity: 1 },
      ],
    });
    const inbox = await w.coSeller.client.stores.orders.query({ storeId: w.coStore });
    const entry = inbox.items.find((o) => o.orderId === w.ids.order);
    expect(entry?.part.storeId).toBe(w.coStore);
    expect(entry?.lines.map((l) => l.productId)).toEqual([w.coProduct]);
    const theirs = await w.coSeller.client.refunds.list.query({ orderId: w.ids.order });
    expect(theirs.items.map((r) => r.id)).toEqual([refundId]);
    const seen = await w.coSeller.client.refunds.get.query({ refundId });
    expect(seen.items.map((i) => i.storeId)).toEqual([w.coStore]);
    // Whole-refund figures are not theirs: null for a seller who sees part of the refund.
    expect({ clawbackFromCash: seen.clawbackFromCash, cashReturned: seen.cashReturned }).toEqual({ clawbackFromCash: null, cashReturned: null });
    const all = await w.admin.client.refunds.get.query({ refundId });
    expect(all.items).toHaveLength(2);
  });
});
