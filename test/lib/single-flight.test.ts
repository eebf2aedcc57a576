import { describe, expect, it } from "vitest";
import { SingleFlight } from "../../src/lib/single-flight.ts";

describe("SingleFlight", () => {
  it("runs the work once for calls of one key in flight together, and again once it settled", async () => {
    const flight = new SingleFlight<number>(1000);
    let runs = 0;
    const work = async () => {
      const run = ++runs;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return run;
    };
    expect(await Promise.all([flight.run("a", work), flight.run("a", work), flight.run("b", work)])).toEqual([
      1, 1, 2,
    ]);
    expect(flight.size).toBe(0);
    expect(await flight.run("a", work)).toBe(3);
  });

  it("gives the first call's error to the calls that joined it", async () => {
    const flight = new SingleFlight<number>(1000);
    const failing = () => Promise.reject(new Error("upstream down"));
    const results = await Promise.allSettled([flight.run("k", failing), flight.run("k", async () => 7)]);
    expect(results.map((r) => (r.status === "rejected" ? (r.reason as Error).message : r.value))).toEqual([
      "upstream down",
      "upstream down",
    ]);
  });

  it("a call that joined a first call which never settles runs its own work after the join wait", async () => {
    const flight = new SingleFlight<string>(20);
    void flight.run("k", () => new Promise<string>(() => undefined));
    expect(await flight.run("k", async () => "own")).toBe("own");
  });
});
