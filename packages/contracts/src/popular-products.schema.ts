/** One product of products.popular: the product as it is on sale now, and its units sold in the window. */
export interface PopularProductView {
  id: number;
  storeId: number;
  name: string;
  /** The current price, in won. */
  price: number;
  /** Units of paid orders accepted in the last three days, minus the units refunded. */
  unitsSold: number;
}

/**
 * products.popular: the top 5 products on sale by units sold in the last three days, most first (equal units:
 * the older product first). Fewer when fewer have sold; an empty list when nothing has sold yet.
 */
export interface PopularProductsView {
  items: PopularProductView[];
  /** When the ranking was computed (refreshed every POPULAR_CRON tick, a minute by default). */
  computedAt: string;
  /** Orders accepted since this instant are counted. */
  windowStart: string;
}
