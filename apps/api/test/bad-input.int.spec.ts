import { startTestApi, newAccount, type TestApi } from '../../../test/support/api-harness';

describe('explore', () => {
  let api: TestApi;
  beforeAll(async () => { api = await startTestApi(); });
  afterAll(async () => { await api.close(); });
  it('x', async () => {
    const c = await newAccount(api, 'CUSTOMER');
    const auth = { authorization: `Bearer ${c.token}` };
    const go = async (label: string, path: string, init: RequestInit) => {
      const res = await fetch(`${api.url}/trpc/${path}`, init);
      console.log(label, res.status, await res.text());
    };
    await go('malformed', 'wallet.charge', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"amount": 5,' });
    await go('malformed-get', `products.get?input=${encodeURIComponent('{bad')}`, { method: 'GET' });
    await go('no-input-get', `products.get`, { method: 'GET' });
    await go('null-get', `products.get?input=null`, { method: 'GET' });
    await go('unknown', `nope.nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await go('get-on-mutation', `auth.signup?input=%7B%7D`, { method: 'GET' });
    await go('post-on-query', `products.get`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"productId":1}' });
    await go('no-ct', 'wallet.charge', { method: 'POST', headers: { ...auth }, body: '{"amount": 5}' });
    await go('text-ct', 'wallet.charge', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: '{"amount": 5}' });
    await go('empty', 'wallet.charge', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '' });
    await go('orders.list null', `orders.list?input=null`, { method: 'GET', headers: auth });
    await go('orders.list noinput', `orders.list`, { method: 'GET', headers: auth });
    await go('history cursor', `wallet.history?input=${encodeURIComponent(JSON.stringify({ cursor: 'abc' }))}`, { method: 'GET', headers: auth });
    await go('email', 'auth.signup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'nope', password: 'x', name: '', role: 'ADMIN', extra: 1 }) });
    await go('big', 'auth.signup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'a@b.cd', password: 'x'.repeat(2_000_000), name: 'a', role: 'CUSTOMER' }) });
    await go('maxid', `products.get?input=${encodeURIComponent(JSON.stringify({ productId: Number.MAX_SAFE_INTEGER }))}`, { method: 'GET' });
    await go('batch', `products.get,stores.get?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { productId: 'x' }, 1: {storeId: -1} }))}`, { method: 'GET' });
  });
});
