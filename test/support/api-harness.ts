import type { AddressInfo } from 'node:net';
import { createDeps, type Deps, buildServer, startMetricsServer } from '@bazaar/api/hosting';
import { createLogger, loadConfig } from '@bazaar/platform';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { testEnv } from './test-env';

export interface TestApi {
  url: string;
  /** The api's metrics port (API_METRICS_PORT, off the public one): `${metricsUrl}/metrics`. */
  metricsUrl: string;
  deps: Deps;
  client(token?: string): BazaarClient;
  close(): Promise<void>;
}

/** The real API (Fastify + tRPC) in this process, on a free port, against the run's database and Redis prefix. */
export async function startTestApi(extraEnv: Record<string, string> = {}): Promise<TestApi> {
  const config = loadConfig({ ...testEnv(), NODE_ENV: 'test', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...extraEnv });
  const deps = await createDeps(config);
  const app = await buildServer(deps, createLogger('api', config.LOG_LEVEL));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const metrics = await startMetricsServer(deps, 0, '127.0.0.1');
  return {
    url,
    metricsUrl: `http://127.0.0.1:${metrics.port}`,
    deps,
    client: (token?: string) => bazaarClient(url, { token }),
    async close() {
      await app.close();
      await metrics.close();
      await deps.close();
    },
  };
}

let seq = 0;
export const uniqueEmail = (tag: string) => `${tag}-${process.pid}-${Date.now().toString(36)}-${seq++}@test.bazaar`;
export const PASSWORD = 'test-password-123';

/** Signs up and logs in a new account; returns its id, token and an authenticated client. */
export async function newAccount(api: TestApi, role: 'CUSTOMER' | 'SELLER', tag = role.toLowerCase()) {
  const anon = api.client();
  const email = uniqueEmail(tag);
  const user = await anon.auth.signup.mutate({ email, password: PASSWORD, name: tag, role });
  const { token } = await anon.auth.login.mutate({ email, password: PASSWORD });
  return { user, token, client: api.client(token) };
}

/** A seller with a store and one product of the given stock and price. */
export async function newProduct(api: TestApi, opts: { stock: number; price: number; name?: string }) {
  const seller = await newAccount(api, 'SELLER');
  const store = await seller.client.stores.create.mutate({ name: 'Test store' });
  const product = await seller.client.products.create.mutate({
    storeId: store.id,
    name: opts.name ?? 'Test product',
    description: 'for tests',
    price: opts.price,
    stock: opts.stock,
  });
  return { seller, store, product };
}

export const DELIVERY = {
  type: 'DELIVERY' as const,
  address: { recipient: '홍길동', phone: '010-0000-0000', postalCode: '04524', line1: '서울특별시 중구 세종대로 110' },
};

/** Polls until fn returns a value that passes `done`, or fails after timeoutMs. */
export async function eventually<T>(fn: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (done(v)) return v;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
