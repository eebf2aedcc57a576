import { describe, expect, it } from "vitest";
import { ConcurrencyLimit, mapWithLimit } from "../../src/lib/concurrency-limit.ts";

/** A task that starts when called and finishes when `finish(i)` is called. */
function heldTasks(count: number) {
  const started: number[] = [];
  const finishers = new Map<number, (fail?: boolean) => void>();
  const tasks = Array.from({ length: count }, (_, i) => () => {
    started.push(i);
    return new Promise<number>((resolve, reject) =>
      finishers.set(i, (fail) => (fail ? reject(new Error(`task ${i} failed`)) : resolve(i))),
    );
  });
  const finish = async (i: number, fail = false) => {
    finishers.get(i)?.(fail);
    // Let the freed slot pass on.
    for (let turn = 0; turn < 5; turn++) await Promise.resolve();
  };
  return { started, tasks, finish };
}

describe("ConcurrencyLimit", () => {
  it("starts at most max tasks, the next one as soon as one settles, in the order given", async () => {
    const limit = new ConcurrencyLimit(2);
    const { started, tasks, finish } = heldTasks(5);
    const results = tasks.map((task) => limit.run(task));
    await finish(-1);
    expect(started).toEqual([0, 1]);
    await finish(1);
    expect(started).toEqual([0, 1, 2]);
    await finish(0, true);
    expect(started).toEqual([0, 1, 2, 3]);
    await finish(2);
    await finish(3);
    await finish(4);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    const settled = await Promise.allSettled(results);
    expect(settled.map((s) => s.status)).toEqual([
      "rejected",
      "fulfilled",
      "fulfilled",
      "fulfilled",
      "fulfilled",
    ]);
  });

  it("runs a task at once while a slot is free", async () => {
    const limit = new ConcurrencyLimit(6);
    let calls = 0;
    const ran = limit.run(async () => ++calls);
    expect(calls).toBe(1);
    expect(await ran).toBe(1);
  });

  it("never lets a newcomer take a slot handed to a waiter", async () => {
    const limit = new ConcurrencyLimit(1);
    const { started, tasks, finish } = heldTasks(3);
    void limit.run(tasks[0] as () => Promise<number>);
    void limit.run(tasks[1] as () => Promise<number>);
    await finish(0);
    void limit.run(tasks[2] as () => Promise<number>);
    await finish(-1);
    expect(started).toEqual([0, 1]);
    await finish(1);
    expect(started).toEqual([0, 1, 2]);
    await finish(2);
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses a limit of %s", (max) => {
    expect(() => new ConcurrencyLimit(max)).toThrow(RangeError);
  });
});

describe("mapWithLimit", () => {
  it("maps 20 items at most 3 at a time, results in order, and rejects with the first failure once all settled", async () => {
    let inFlight = 0;
    let most = 0;
    const work = async (n: number) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight -= 1;
      if (n === 13) throw new Error("thirteen");
      return n * 2;
    };
    const items = Array.from({ length: 20 }, (_, i) => i);
    await expect(mapWithLimit(items, 3, work)).rejects.toThrow("thirteen");
    expect(inFlight).toBe(0);
    expect(most).toBe(3);
    most = 0;
    expect(await mapWithLimit(items.slice(0, 10), 3, work)).toEqual(items.slice(0, 10).map((n) => n * 2));
    expect(most).toBe(3);
  });
});
