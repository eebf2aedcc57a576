import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64Url, newId, randomSecret, toBase64Url } from "../../src/lib/ids.ts";

const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";
const ID_FORMAT = /^ct_[0-9abcdefghjkmnpqrstvwxyz]{26}$/;

/** The millisecond timestamp in an id's first ten characters. */
function timeOf(id: string): number {
  return [...id.slice(id.indexOf("_") + 1, id.indexOf("_") + 11)].reduce(
    (time, ch) => time * 32 + CROCKFORD.indexOf(ch),
    0,
  );
}

// newId keeps its last time in module state, shared with every test file that ran before in the
// same isolate (some with fake clocks), so each test uses times later than every id made so far.
let clock = timeOf(newId("ct"));
const nextMillisecond = () => {
  clock += 1000;
  return clock;
};

describe("newId", () => {
  it("writes prefix, underscore and 26 Crockford base32 characters, starting with the time", () => {
    const now = nextMillisecond();
    const id = newId("ct", now);
    expect(id).toMatch(ID_FORMAT);
    expect(timeOf(id)).toBe(now);
  });

  it("stays strictly increasing for many ids in the same millisecond", () => {
    const now = nextMillisecond();
    const ids = Array.from({ length: 1000 }, () => newId("ct", now));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort());
    for (const id of ids) {
      expect(id).toMatch(ID_FORMAT);
      expect(timeOf(id)).toBe(now);
    }
  });

  it("sorts ids of a later millisecond after those of an earlier one", () => {
    const now = nextMillisecond();
    const earlier = newId("ct", now);
    const later = newId("ct", now + 1);
    expect(later > earlier).toBe(true);
    expect(timeOf(later)).toBe(now + 1);
  });

  it("stays increasing when the clock steps backwards", () => {
    const now = nextMillisecond();
    const first = newId("ct", now);
    const second = newId("ct", now - 500);
    expect(second > first).toBe(true);
    expect(timeOf(second)).toBe(now);
  });

  it("property: any sequence of non-decreasing times gives strictly increasing ids", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 2, maxLength: 200 }), (steps) => {
        let now = nextMillisecond();
        const ids = steps.map((step) => {
          now += step;
          return newId("ct", now);
        });
        for (let i = 1; i < ids.length; i++) expect((ids[i] ?? "") > (ids[i - 1] ?? "")).toBe(true);
      }),
    );
  });
});

describe("base64url", () => {
  it("property: round trips any bytes without padding or +/ characters", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = toBase64Url(bytes);
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(fromBase64Url(text)).toEqual(bytes);
      }),
    );
  });

  it("refuses text that is not base64url", () => {
    expect(() => fromBase64Url("a")).toThrow();
    expect(() => fromBase64Url("!!!!")).toThrow();
  });
});

describe("randomSecret", () => {
  it("gives prefixed, unguessable secrets of the asked size", () => {
    const a = randomSecret(32, "whsec_");
    const b = randomSecret(32, "whsec_");
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(fromBase64Url(a.slice("whsec_".length))).toHaveLength(32);
    expect(a).not.toBe(b);
  });
});
