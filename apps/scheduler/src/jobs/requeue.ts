import type { Queue } from 'bullmq';

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/** What a sweep did for one piece of work: its job was live, its failed job retried, it was enqueued (again), or there was nothing to enqueue. */
export type RequeueAction = 'waiting' | 'retried' | 'requeued' | 'gone';

/**
 * Makes sure the work behind `jobId` has a live job: a live one is left
 * alone; a failed one (out of attempts) is retried from scratch; any other
 * (missing, or completed while the work is still undone) is removed and
 * `enqueue` adds it anew under the same id (false: it found nothing to
 * enqueue). Returns what it did, and the state the job was found in.
 */
export async function requeue(
  queue: Queue,
  jobId: string,
  enqueue: () => Promise<boolean>,
): Promise<{ action: RequeueAction; state: string; failedReason?: string }> {
  const job = await queue.getJob(jobId);
  const state = job ? await job.getState() : 'missing';
  if (LIVE_STATES.has(state)) return { action: 'waiting', state };
  if (job && state === 'failed') {
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return { action: 'retried', state, failedReason: job.failedReason };
  }
  if (job) await job.remove();
  return { action: (await enqueue()) ? 'requeued' : 'gone', state };
}
