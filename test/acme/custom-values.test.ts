import { describe, expect, it } from "vitest";
import {
  applyCustomWrite,
  isCalendarDate,
  type PropertyDefinition,
  valueProblem,
} from "../../src/acme/properties/custom-values.ts";
import { MAX_CUSTOM_BYTES, MAX_STRING_VALUE_LENGTH } from "../../src/acme/properties/limits.ts";

const property = (
  name: string,
  type: PropertyDefinition["type"],
  extra: Partial<PropertyDefinition> = {},
): PropertyDefinition => ({ name, type, options: null, archived: false, ...extra });

const PROPERTIES = new Map(
  [
    property("nickname", "string"),
    property("seats", "number"),
    property("vip", "boolean"),
    property("renewal_date", "date"),
    property("tier", "enumeration", { options: ["bronze", "silver", "gold"] }),
    property("legacy", "string", { archived: true }),
  ].map((p) => [p.name, p]),
);

describe("isCalendarDate", () => {
  it.each(["2026-01-31", "2024-02-29", "2000-02-29", "0001-01-01", "0099-12-31", "9999-12-31"])(
    "takes %s",
    (date) => expect(isCalendarDate(date)).toBe(true),
  );

  it.each([
    "2026-02-29",
    "1900-02-29",
    "2026-04-31",
    "2026-00-10",
    "2026-13-01",
    "2026-01-00",
    "2026-1-01",
    "26-01-01",
    "2026-01-01T00:00:00Z",
    " 2026-01-01",
    "2026/01/01",
    "+02026-01-01",
    "",
  ])("refuses %j", (date) => expect(isCalendarDate(date)).toBe(false));
});

describe("valueProblem", () => {
  it.each([
    ["nickname", "x".repeat(MAX_STRING_VALUE_LENGTH)],
    ["seats", -0.5],
    ["vip", false],
    ["renewal_date", "2026-09-30"],
    ["tier", "silver"],
  ])("takes %s = %j", (name, value) => {
    expect(valueProblem(PROPERTIES.get(name) as PropertyDefinition, value)).toBeNull();
  });

  it.each([
    ["nickname", "x".repeat(MAX_STRING_VALUE_LENGTH + 1)],
    ["seats", Number.POSITIVE_INFINITY],
    ["seats", Number.NaN],
    ["seats", "1"],
    ["vip", "true"],
    ["renewal_date", "2026-09-31"],
    ["tier", "SILVER"],
  ])("refuses %s = %j", (name, value) => {
    expect(valueProblem(PROPERTIES.get(name) as PropertyDefinition, value)).toEqual(expect.any(String));
  });
});

describe("applyCustomWrite", () => {
  it("merges: keeps what the write does not name, sets and clears what it names, keys in order", () => {
    const outcome = applyCustomWrite(
      { tier: "gold", seats: 1, nickname: "Ada" },
      { vip: true, seats: null, nickname: "Grace" },
      "merge",
      PROPERTIES,
    );
    expect(outcome).toEqual({ ok: true, values: { nickname: "Grace", tier: "gold", vip: true } });
    expect(Object.keys(outcome.ok ? outcome.values : {})).toEqual(["nickname", "tier", "vip"]);
  });

  it("replaces: keeps only what the write sends, and the archived values", () => {
    expect(applyCustomWrite({ tier: "gold", legacy: "old" }, { seats: 2 }, "replace", PROPERTIES)).toEqual({
      ok: true,
      values: { legacy: "old", seats: 2 },
    });
  });

  it("takes an archived value sent back unchanged (or null where none is held), refuses any other", () => {
    expect(applyCustomWrite({ legacy: "old" }, { legacy: "old" }, "merge", PROPERTIES).ok).toBe(true);
    expect(applyCustomWrite({}, { legacy: null }, "merge", PROPERTIES).ok).toBe(true);
    for (const value of ["new", null]) {
      expect(applyCustomWrite({ legacy: "old" }, { legacy: value }, "replace", PROPERTIES)).toEqual({
        ok: false,
        errors: [
          {
            field: "acme_custom.legacy",
            message: "the property is archived: its value can be read but not changed",
          },
        ],
      });
    }
  });

  it("names every unknown or wrong property, and never an inherited name as known", () => {
    const outcome = applyCustomWrite({}, { toString: "x", vip: "yes", tier: "gold" }, "merge", PROPERTIES);
    expect(outcome).toEqual({
      ok: false,
      errors: [
        { field: "acme_custom.toString", message: "no such property in this account" },
        { field: "acme_custom.vip", message: "must be true or false" },
      ],
    });
  });

  it(`refuses a result over ${MAX_CUSTOM_BYTES} bytes of JSON, counting UTF-8 bytes, naming acme_custom`, () => {
    const many = new Map(
      Array.from({ length: 20 }, (_, i) => property(`s${i}`, "string")).map((p) => [p.name, p]),
    );
    // {"s0":"..."}: 8 bytes of punctuation and name for the first, 8 or 9 for each further one.
    const write = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`s${i}`, "é".repeat(500)]));
    const outcome = applyCustomWrite({}, write, "replace", many);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.errors.map((e) => e.field)).toEqual(["acme_custom"]);
    const fewer = Object.fromEntries(Object.entries(write).slice(0, 16));
    expect(applyCustomWrite({}, fewer, "replace", many).ok).toBe(true);
  });
});
