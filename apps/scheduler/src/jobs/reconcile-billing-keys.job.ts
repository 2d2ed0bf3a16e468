import type { BillingKeysRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import { maskBillingKey } from '@bazaar/worker/gateway';

/** What the job needs of the payment gateway. */
export interface BillingKeyDeleter {
  deleteBillingKey(billingKey: string): Promise<void>;
}

/**
 * A billing key is deleted at the gateway when the last subscription charging it is cancelled. If the gateway
 * did not answer then, the key is DELETED here (never charged again) but still alive there: this sweep deletes it
 * again until the gateway confirms (a key the gateway already removed counts as deleted).
 */
export class ReconcileBillingKeysJob {
  static readonly NAME = 'reconcile-billing-keys';

  constructor(
    private readonly keys: BillingKeysRepository,
    private readonly gateway: BillingKeyDeleter,
    private readonly metrics: Pick<Metrics, 'reconciled'>,
    private readonly afterSeconds: number,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async run(log: Logger): Promise<{ examined: number; deleted: number }> {
    const owed = await this.keys.gatewayDeletesOwed(new Date(this.clock().getTime() - this.afterSeconds * 1000), 100);
    let deleted = 0;
    for (const key of owed) {
      try {
        await this.gateway.deleteBillingKey(key);
        await this.keys.markGatewayDeleted(key, this.clock());
        deleted++;
        this.metrics.reconciled.inc({ action: 'billing_key_deleted' });
        log.info({ billingKey: maskBillingKey(key) }, 'billing key deleted at the gateway on a later try');
      } catch (err) {
        log.warn({ billingKey: maskBillingKey(key), err: err instanceof Error ? err.message : String(err) }, 'billing key still not deleted at the gateway');
      }
    }
    return { examined: owed.length, deleted };
  }
}
