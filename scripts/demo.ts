/**
 * `npm run demo`: walks the order slice against a running system (npm run up)
 * through the typed client, printing each step.
 */
import { randomUUID } from 'node:crypto';
import { bazaarClient } from './lib/client';

const API = process.env.BAZAAR_URL ?? `http://127.0.0.1:${process.env.API_PORT ?? 3000}`;
const step = (n: number, what: string, detail: unknown) => console.log(`${n}. ${what}\n   ${JSON.stringify(detail)}`);

async function main(): Promise<void> {
  const run = randomUUID().slice(0, 8);
  const anon = bazaarClient(API);
  const password = 'correct-horse-battery';

  const seller = await anon.auth.signup.mutate({ email: `seller-${run}@demo.bazaar`, password, name: `Demo Seller ${run}`, role: 'SELLER' });
  step(1, 'a seller signs up', seller);
  const sellerApi = bazaarClient(API, { token: (await anon.auth.login.mutate({ email: seller.email, password })).token });
  const store = await sellerApi.stores.create.mutate({ name: `꽃집 ${run}` });
  step(2, 'the seller opens a store', store);
  const product = await sellerApi.products.create.mutate({
    storeId: store.id,
    name: '장미 꽃다발 (rose bouquet)',
    description: 'Twelve red roses',
    price: 15_000,
    stock: 10,
  });
  step(3, 'and lists a product with stock 10', { id: product.id, name: product.name, price: product.price, stock: product.stock });

  const customer = await anon.auth.signup.mutate({ email: `customer-${run}@demo.bazaar`, password, name: `Demo Customer ${run}`, role: 'CUSTOMER' });
  const { token } = await anon.auth.login.mutate({ email: customer.email, password });
  const api = bazaarClient(API, { token, requestId: `demo-${run}` });
  step(4, 'a customer signs up and logs in', { id: customer.id, email: customer.email });

  const charge = await api.wallet.charge.mutate({ amount: 50_000, idempotencyKey: `charge-${run}` });
  step(5, 'the customer tops up the wallet with 50,000 won', charge);

  const placed = await api.orders.place.mutate({
    idempotencyKey: `order-${run}`,
    items: [{ productId: product.id, quantity: 2 }],
    paymentMethod: 'BALANCE',
    fulfillment: { type: 'DELIVERY', address: { recipient: '김민지', phone: '010-1234-5678', postalCode: '04524', line1: '서울특별시 중구 세종대로 110' } },
  });
  step(6, 'and orders 2 bouquets, paid from the balance (accepted, queued)', placed);

  let order = await api.orders.get.query({ orderId: placed.orderId });
  for (let i = 0; i < 100 && order.status === 'PENDING'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    order = await api.orders.get.query({ orderId: placed.orderId });
  }
  step(7, 'a worker applies it', { status: order.status, failureReason: order.failureReason, cashPaid: order.cashPaid, settledAt: order.settledAt });

  step(8, 'the wallet now holds', await api.wallet.balance.query());
  step(9, 'and the product stock is', { stock: (await api.products.get.query({ productId: product.id })).stock });
  console.log(`\nrequest id demo-${run} follows the order from the API log into the worker log.`);
}

main().catch((err: unknown) => {
  console.error('demo failed:', err instanceof Error ? err.message : err);
  console.error('is the system running? start it with: npm run up');
  process.exit(1);
});
