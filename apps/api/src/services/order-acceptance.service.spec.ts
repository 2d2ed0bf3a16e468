import { paramsHash } from './order-acceptance.service';
import type { OrderPlaceInput } from '@bazaar/contracts';

const base: OrderPlaceInput = {
  idempotencyKey: 'key-00000001',
  items: [{ productId: 1, quantity: 2 }],
  paymentMethod: 'BALANCE',
  fulfillment: { type: 'DELIVERY', address: { recipient: 'a', phone: '010-1111-2222', postalCode: '12345', line1: 'x' } },
};

describe('paramsHash', () => {
  it('ignores the idempotency key and the order of object keys', () => {
    const reordered = { fulfillment: base.fulfillment, paymentMethod: base.paymentMethod, items: base.items, idempotencyKey: 'other-key-1' } as OrderPlaceInput;
    expect(paramsHash(reordered)).toBe(paramsHash(base));
  });

  it('differs when any parameter differs', () => {
    expect(paramsHash({ ...base, items: [{ productId: 1, quantity: 3 }] })).not.toBe(paramsHash(base));
    expect(paramsHash({ ...base, items: [{ productId: 2, quantity: 2 }] })).not.toBe(paramsHash(base));
    expect(paramsHash({ ...base, fulfillment: { type: 'PICKUP', pickupAt: '2030-01-01T00:00:00Z' } })).not.toBe(paramsHash(base));
  });

  it('hashes a fromCart request as sent (the flag, not the cart), and never like the same lines given as items', () => {
    const { items: _items, ...rest } = base;
    const fromCart: OrderPlaceInput = { ...rest, fromCart: true };
    expect(paramsHash({ ...fromCart, idempotencyKey: 'other-key-2' })).toBe(paramsHash(fromCart));
    expect(paramsHash(fromCart)).not.toBe(paramsHash(base));
    expect(paramsHash({ ...fromCart, paymentMethod: 'CARD', paymentKey: 'pk_1' })).not.toBe(paramsHash(fromCart));
  });

  it('treats an absent optional field like undefined', () => {
    expect(paramsHash({ ...base, couponId: undefined })).toBe(paramsHash(base));
  });
});
