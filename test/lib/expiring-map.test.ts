import { describe, expect, it } from "vitest";
import { ExpiringMap } from "../../src/lib/expiring-map.ts";

describe("ExpiringMap", () => {
  it("returns an entry until its ttl has run out, then forgets it", () => {
    const map = new ExpiringMap<string, number>(10);
    map.set("a", 1, 1000, 0);
    expect(map.get("a", 0)).toBe(1);
    expect(map.get("a", 999)).toBe(1);
    expect(map.get("a", 1000)).toBeUndefined();
    // Forgotten, not just hidden: an earlier clock does not bring it back.
    expect(map.get("a", 500)).toBeUndefined();
  });

  it("keeps a stored null apart from a missing key", () => {
    const map = new ExpiringMap<string, string | null>(10);
    map.set("none", null, 1000, 0);
    expect(map.get("none", 1)).toBeNull();
    expect(map.get("other", 1)).toBeUndefined();
  });

  it("drops the entry set longest ago beyond its size, counting a set again as new", () => {
    const map = new ExpiringMap<string, number>(2);
    map.set("a", 1, 1000, 0);
    map.set("b", 2, 1000, 0);
    map.set("a", 3, 1000, 1);
    map.set("c", 4, 1000, 2);
    expect(map.get("b", 3)).toBeUndefined();
    expect(map.get("a", 3)).toBe(3);
    expect(map.get("c", 3)).toBe(4);
  });

  it("remembers nothing with a ttl of 0, and forgets what the key held", () => {
    const map = new ExpiringMap<string, number>(10);
    map.set("a", 1, 1000, 0);
    map.set("a", 2, 0, 1);
    expect(map.get("a", 1)).toBeUndefined();
    map.set("b", 1, 1000, 0);
    map.delete("b");
    expect(map.get("b", 1)).toBeUndefined();
  });
});
