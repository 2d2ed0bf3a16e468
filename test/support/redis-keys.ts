import type { Redis } from 'ioredis';

/** Every key of a run's prefix, plain and hash-tagged (`<prefix>…` and `{<prefix>…`), in SCAN batches. */
export async function* keyBatchesUnder(redis: Redis, prefix: string, count = 1000): AsyncGenerator<string[]> {
  for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length) yield keys;
    } while (cursor !== '0');
  }
}

/** Deletes every key of a run's prefix (UNLINK: freed in the background). */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of keyBatchesUnder(redis, prefix)) await redis.unlink(...keys);
}
