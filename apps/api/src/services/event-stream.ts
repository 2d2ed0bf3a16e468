/** One subscriber's end of a hub: events pushed in, pulled out in order. */
export interface EventStream<T> {
  push: (event: T) => void;
  /** Ends the stream once what was pushed before has been pulled. */
  stop: () => void;
  iterator: AsyncIterableIterator<T>;
}

/**
 * A push-to-pull bridge for the pub/sub hubs: a listener pushes each event, one
 * consumer (a tRPC subscription) pulls them in order. It ends on stop() or when
 * `signal` aborts; `cleanup` runs once, when the consumer has finished or
 * returned early.
 */
export function eventStream<T>(signal: AbortSignal | undefined, cleanup: () => void): EventStream<T> {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let finished = false;
  const stop = () => {
    done = true;
    wake?.();
  };
  const finish = () => {
    if (finished) return;
    finished = true;
    signal?.removeEventListener('abort', stop);
    cleanup();
  };
  if (signal?.aborted) done = true;
  else signal?.addEventListener('abort', stop, { once: true });
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    next: async () => {
      while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      if (queue.length > 0) return { value: queue.shift() as T, done: false };
      finish();
      return { value: undefined, done: true };
    },
    return: async () => {
      finish();
      return { value: undefined, done: true };
    },
  };
  const push = (event: T) => {
    queue.push(event);
    wake?.();
  };
  return { push, stop, iterator };
}
