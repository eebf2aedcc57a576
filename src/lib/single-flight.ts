/**
 * Calls of one key made at the same time in this isolate share one execution: the first runs
 * `work`, the others wait for its result (or its error). A call that joins waits at most
 * `joinWaitMs` and then runs `work` itself, so a first call whose request was torn down (its
 * promise never settling) holds nobody up for long. Only plain values should be shared: I/O
 * objects (bodies, streams) belong to the request that made them.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  constructor(private readonly joinWaitMs: number) {}

  /** `work()`'s result for `key`, shared with any call of the same key in flight. Rejects as `work` does. */
  async run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gaveUp = new Promise<"gave_up">((resolve) => {
        timer = setTimeout(() => resolve("gave_up"), this.joinWaitMs);
      });
      try {
        const first = await Promise.race([running, gaveUp]);
        if (first !== "gave_up") return first;
      } finally {
        clearTimeout(timer);
      }
      return work();
    }
    const started = work().finally(() => {
      if (this.inFlight.get(key) === started) this.inFlight.delete(key);
    });
    this.inFlight.set(key, started);
    return started;
  }

  /** Calls in flight now (for tests and diagnostics). */
  get size(): number {
    return this.inFlight.size;
  }
}
