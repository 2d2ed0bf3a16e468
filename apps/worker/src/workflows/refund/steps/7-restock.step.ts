import type { RefundStep } from './refund-step';

/**
 * Step 7 — restock. The refunded units go back to their products' stock, in
 * product id order (the lock order of every stock change). The sold-out
 * gate's counters learn it after the commit, once per refund.
 * May: the stock of the refunded lines' products. May not: anything else of a product.
 */
export const restockStep: RefundStep = {
  name: 'restock',
  applies: () => true,
  async run(ctx) {
    await ctx.repos.settlement.returnStock(ctx.q, restockLines(ctx.refund.items));
  },
};

export const restockLines = (items: readonly { productId: number; quantity: number }[]) => items.map((i) => ({ productId: i.productId, quantity: i.quantity }));
