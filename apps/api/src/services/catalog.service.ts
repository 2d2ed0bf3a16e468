import { ProductStatus } from '@bazaar/contracts';
import type { CatalogRepository, ProductEntity, ProductFanoutsRepository, ProductPricing } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import type { SoldOutGate, StockSnapshot } from '@bazaar/queue';

/** What a product change must tell: every cache that shows products (ProductCaches.changed, or its Redis part in the scheduler). */
export type ProductChangeNotice = (productId: number) => Promise<void>;

/** The Redis copies a product change writes: the accept path's pricing snapshot and the sold-out gate. */
export interface CatalogCopies {
  pricing: { put(p: ProductPricing): Promise<void> };
  gate: Pick<SoldOutGate, 'init' | 'add' | 'forget' | 'rebuild'>;
  stockSnapshot: StockSnapshot;
  changed: ProductChangeNotice;
}

type Gate = { kind: 'init'; stock: number } | { kind: 'add'; quantity: number } | { kind: 'closed' };

/** What the copies are made of: a product's row (ProductEntity is one). */
type ProductRow = ProductPricing & { stock: number };

const pricingOf = (p: ProductRow, status = p.status): ProductPricing => ({ id: p.id, storeId: p.storeId, name: p.name, price: p.price, status });

/**
 * The one owner of a product change and its fan-out. MySQL holds the product; Redis holds copies the hot paths read:
 * the accept path's pricing snapshot, the sold-out gate's counter, the detail and list caches. A change here
 *
 *   1. marks the product in MySQL (product_fanouts) before it writes it,
 *   2. writes MySQL,
 *   3. writes every copy (pricing, gate, caches),
 *   4. clears its own mark.
 *
 * Should step 3 fail (Redis unreachable, a timeout) or the process die after step 2, the mark stays, and the
 * scheduler's repair (CatalogService.repair, the `repair-catalog` job) writes every copy again from MySQL's row: the
 * pricing snapshot from the row, the gate counter dropped and rebuilt from MySQL's stock less the units still held by
 * unsettled orders (SoldOutGate.rebuild: exact, whatever orders came meanwhile), the caches told. A restock whose gate
 * update failed therefore sells its new units once repaired, and never more than MySQL holds. The change itself has
 * committed, so its caller gets its answer (a retried restock would add the units twice); the failure is logged and
 * counted (bazaar_catalog_fanouts_total{outcome="failed"}).
 */
export class CatalogService {
  constructor(
    private readonly catalog: CatalogRepository,
    private readonly fanouts: ProductFanoutsRepository,
    private readonly copies: CatalogCopies,
    private readonly metrics: Metrics,
    private readonly log: Pick<Logger, 'warn' | 'info'>,
  ) {}

  async create(input: { storeId: number; name: string; description: string; price: number; stock: number }): Promise<ProductEntity> {
    const p = await this.catalog.createProduct(input);
    // No mark can precede the insert (the id is the insert's); a product with no copies yet is read from MySQL by
    // every path that misses it (pricing, a missing gate counter is rebuilt), so only a failed fan-out needs one.
    await this.fanOut(p, { kind: 'init', stock: p.stock }, null);
    return p;
  }

  /** Products inserted in bulk (demo data, imports): their copies, as create writes them. */
  async created(products: ProductRow[]): Promise<void> {
    await Promise.all(products.map((p) => this.fanOut(p, { kind: 'init', stock: p.stock }, null)));
  }

  /** Name, description or price; null when the product is gone. Orders accepted from now on are priced at the new price. */
  async update(productId: number, fields: { name?: string; description?: string; price?: number }): Promise<ProductEntity | null> {
    return this.change(productId, async () => ((await this.catalog.updateProduct(productId, fields)) ? null : false), null);
  }

  /** Off sale (the row stays for the orders holding it): the accept path stops pricing it, the gate lets nothing through. */
  async remove(productId: number): Promise<ProductEntity | null> {
    return this.change(productId, async () => ((await this.catalog.removeProduct(productId)) ? null : false), { kind: 'closed' });
  }

  /** Adds stock; null when the product is gone or would pass LIMITS.maxStock (the statement's own condition). */
  async restock(productId: number, quantity: number): Promise<ProductEntity | null> {
    return this.change(productId, async () => ((await this.catalog.restock(productId, quantity)) ? null : false), { kind: 'add', quantity });
  }

  /**
   * Writes again, from MySQL, the copies of products whose marks are older than `afterSeconds` (a fan-out that failed,
   * or a process that died between MySQL and Redis). Safe to run from several processes and beside live changes: every
   * copy is written from the row as it is now, and a mark is cleared only if no change marked it again meanwhile.
   */
  async repair(afterSeconds: number, limit = 500): Promise<{ repaired: number; failed: number }> {
    let repaired = 0;
    let failed = 0;
    for (const mark of await this.fanouts.stale(afterSeconds, limit)) {
      try {
        const p = await this.catalog.findProduct(mark.productId);
        if (p) await this.writeCopies(p, p.status === ProductStatus.ACTIVE ? { kind: 'rebuild' } : { kind: 'closed' });
        await this.fanouts.clear(mark.productId, mark.token);
        this.metrics.catalogFanouts.inc({ outcome: 'repaired' });
        repaired++;
      } catch (err) {
        failed++;
        this.log.warn({ err, productId: mark.productId }, 'catalog repair: could not write the product’s copies; next run retries');
      }
    }
    if (repaired) this.log.info({ repaired }, 'catalog repair: wrote product copies again from MySQL');
    return { repaired, failed };
  }

  /** Mark, write MySQL (`write` answers false when nothing was changed), fan out, clear. */
  private async change(productId: number, write: () => Promise<false | null>, gate: Gate | null): Promise<ProductEntity | null> {
    const token = await this.fanouts.mark(productId);
    if ((await write()) === false) {
      await this.fanouts.clear(productId, token);
      return null;
    }
    const p = await this.catalog.findProduct(productId);
    if (!p) return null;
    await this.fanOut(p, gate, token);
    return p;
  }

  private async fanOut(p: ProductRow, gate: Gate | null, token: string | null): Promise<void> {
    try {
      await this.writeCopies(p, gate);
      if (token) await this.fanouts.clear(p.id, token);
      this.metrics.catalogFanouts.inc({ outcome: 'ok' });
    } catch (err) {
      this.metrics.catalogFanouts.inc({ outcome: 'failed' });
      this.log.warn({ err, productId: p.id }, 'product change committed, its Redis copies not written: left for the catalog repair');
      // A create has no mark yet: leave one now (MySQL answered a moment ago), so the repair finds it.
      if (!token) await this.fanouts.mark(p.id).catch(() => undefined);
      // The gate counter, if still reachable, is dropped now: the next order rebuilds it from MySQL, before the repair.
      if (gate?.kind === 'add') await this.copies.gate.forget(p.id).catch(() => undefined);
    }
  }

  private async writeCopies(p: ProductRow, gate: Gate | { kind: 'rebuild' } | null): Promise<void> {
    const { pricing, gate: counter } = this.copies;
    const closed = gate?.kind === 'closed';
    await pricing.put(pricingOf(p, closed ? ProductStatus.DELETED : p.status));
    if (gate?.kind === 'init') await counter.init(p.id, p.stock);
    else if (gate?.kind === 'add') await counter.add(p.id, gate.quantity);
    else if (closed) await counter.init(p.id, 0);
    else if (gate?.kind === 'rebuild') {
      await counter.forget(p.id);
      await counter.rebuild(p.id, this.copies.stockSnapshot);
    }
    await this.copies.changed(p.id);
  }
}
