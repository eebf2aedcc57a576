/**
 * Runs tasks at most `max` at a time, in the order they were given: a task is called only when a
 * slot is free, so whatever it starts (a fetch and its timeout) starts then, not while it waits.
 * A slot frees when the task's promise settles, resolved or rejected.
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  /** Throws a RangeError unless `max` is a positive integer. */
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`a concurrency limit must be a positive integer, not ${max}`);
    }
  }

  /** `task()`'s result once it ran in a free slot; rejects as `task` does. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so a newcomer cannot take it in between.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * Runs `work` over `items` at most `max` at a time (see {@link ConcurrencyLimit}); the results in
 * the order of `items`. Rejects with the first rejection, once every started call has settled.
 * Throws a RangeError unless `max` is a positive integer.
 */
export async function mapWithLimit<T, R>(
  items: readonly T[],
  max: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const limit = new ConcurrencyLimit(max);
  const settled = await Promise.allSettled(items.map((item, i) => limit.run(() => work(item, i))));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
