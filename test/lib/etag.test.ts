import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ENTITY_TAG_CONDITION,
  type EntityTagCondition,
  evaluatePreconditions,
  formatEtag,
  ifMatchPasses,
  ifNoneMatchPasses,
  parseEntityTagCondition,
  strongMatch,
  versionTag,
  weakMatch,
} from "../../src/lib/etag.ts";

describe("formatEtag", () => {
  it("quotes the version as a strong ETag", () => {
    expect(formatEtag(1)).toBe('"1"');
    expect(formatEtag(42)).toBe('"42"');
  });

  it("property: every ETag it writes parses back to its own version", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), (version) => {
        const condition = parseEntityTagCondition(formatEtag(version));
        expect(condition).toEqual({ kind: "tags", tags: [versionTag(version)] });
        expect(ifMatchPasses(condition as EntityTagCondition, versionTag(version))).toBe(true);
      }),
    );
  });
});

describe("parseEntityTagCondition", () => {
  it.each([[undefined], [null], [""], [" \t "]])("treats %j as no precondition", (value) => {
    expect(parseEntityTagCondition(value)).toBeNull();
  });

  it.each([
    ["*", { kind: "any" }],
    ['"3"', { kind: "tags", tags: [{ weak: false, opaque: "3" }] }],
    ['W/"3"', { kind: "tags", tags: [{ weak: true, opaque: "3" }] }],
    ['""', { kind: "tags", tags: [{ weak: false, opaque: "" }] }],
    [
      '"a,b" , W/"c"',
      {
        kind: "tags",
        tags: [
          { weak: false, opaque: "a,b" },
          { weak: true, opaque: "c" },
        ],
      },
    ],
    [
      '"99999999999999999999999"',
      { kind: "tags", tags: [{ weak: false, opaque: "99999999999999999999999" }] },
    ],
    [', "1",,', { kind: "tags", tags: [{ weak: false, opaque: "1" }] }],
    [",", { kind: "tags", tags: [] }],
    ['"\x80\xff"', { kind: "tags", tags: [{ weak: false, opaque: "\x80\xff" }] }],
  ])("reads %j", (value, expected) => {
    expect(parseEntityTagCondition(value)).toEqual(expected);
  });

  it.each([
    ["3"],
    ['w/"3"'],
    ['W/ "3"'],
    ['"3'],
    ['"3" "4"'],
    ['*, "3"'],
    ["**"],
    ['"a b"'],
    ['"a"b"'],
    ['"3"x'],
    ["'3'"],
  ])("finds %j malformed", (value) => {
    expect(parseEntityTagCondition(value)).toBe("malformed");
  });

  it("property: any list of tags it can write reads back as the same tags", () => {
    const etagc = fc.stringMatching(/^[\x21\x23-\x7e]*$/);
    fc.assert(
      fc.property(fc.array(fc.record({ weak: fc.boolean(), opaque: etagc }), { minLength: 1 }), (tags) => {
        const value = tags.map((t) => `${t.weak ? "W/" : ""}"${t.opaque}"`).join(" , ");
        expect(parseEntityTagCondition(value)).toEqual({ kind: "tags", tags });
      }),
    );
  });
});

describe("ENTITY_TAG_CONDITION (the grammar the documents state)", () => {
  const accepted = (value: string) => parseEntityTagCondition(value) !== "malformed";

  it.each([
    [""],
    [" \t "],
    ["*"],
    [" * "],
    ['"3"'],
    ['W/"3"'],
    ['""'],
    ['"a,b" , W/"c"'],
    [', "1",,'],
    [","],
    ['"\x80\xff"'],
    ["3"],
    ['w/"3"'],
    ['W/ "3"'],
    ['"3'],
    ['"3" "4"'],
    ['*, "3"'],
    ["**"],
    ['"a b"'],
    ['"a"b"'],
    ['"3"x'],
    ["'3'"],
    ['"\u0100"'],
  ])("accepts %j exactly when the parser does", (value) => {
    expect(new RegExp(ENTITY_TAG_CONDITION.source, "u").test(value)).toBe(accepted(value));
  });

  it("property: agrees with the parser on strings made of the grammar's pieces", () => {
    const piece = fc.constantFrom("*", ",", " ", "\t", '"', "W/", "w/", "3", "a", "\x80", "\x7f", "x y");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const value = pieces.join("");
        expect(new RegExp(ENTITY_TAG_CONDITION.source, "u").test(value), JSON.stringify(value)).toBe(
          accepted(value),
        );
      }),
      { numRuns: 2000 },
    );
  });
});

describe("comparison and evaluation (RFC 9110 8.8.3.2, 13.1, 13.2.2)", () => {
  const strong3 = versionTag(3);
  const weak3 = { weak: true, opaque: "3" };
  const tags = (value: string) => {
    const parsed = parseEntityTagCondition(value);
    if (parsed === null || parsed === "malformed") throw new Error(`not a list: ${value}`);
    return parsed;
  };

  it("compares strongly only when both tags are strong, weakly on the opaque text alone", () => {
    expect(strongMatch(strong3, versionTag(3))).toBe(true);
    expect(strongMatch(weak3, strong3)).toBe(false);
    expect(strongMatch(strong3, weak3)).toBe(false);
    expect(weakMatch(weak3, strong3)).toBe(true);
    expect(weakMatch(strong3, versionTag(4))).toBe(false);
  });

  it("If-Match: * and listed strong tags pass; weak, other and absent representations fail", () => {
    expect(ifMatchPasses(null, strong3)).toBe(true);
    expect(ifMatchPasses(tags("*"), strong3)).toBe(true);
    expect(ifMatchPasses(tags("*"), null)).toBe(false);
    expect(ifMatchPasses(tags('"1", "3"'), strong3)).toBe(true);
    expect(ifMatchPasses(tags('W/"3"'), strong3)).toBe(false);
    expect(ifMatchPasses(tags('"4"'), strong3)).toBe(false);
    expect(ifMatchPasses(tags(","), strong3)).toBe(false);
  });

  it("If-None-Match: fails when any listed tag matches weakly, or for * when a representation exists", () => {
    expect(ifNoneMatchPasses(null, strong3)).toBe(true);
    expect(ifNoneMatchPasses(tags('W/"3"'), strong3)).toBe(false);
    expect(ifNoneMatchPasses(tags('"3"'), strong3)).toBe(false);
    expect(ifNoneMatchPasses(tags('"2", "4"'), strong3)).toBe(true);
    expect(ifNoneMatchPasses(tags("*"), strong3)).toBe(false);
    expect(ifNoneMatchPasses(tags("*"), null)).toBe(true);
  });

  it("evaluates If-Match first, then If-None-Match: 304 for GET and HEAD, 412 for other methods", () => {
    const both = (ifMatch: string | null, ifNoneMatch: string | null) => ({
      ifMatch: ifMatch === null ? null : tags(ifMatch),
      ifNoneMatch: ifNoneMatch === null ? null : tags(ifNoneMatch),
    });
    expect(evaluatePreconditions(both(null, null), strong3, "GET")).toBe("proceed");
    expect(evaluatePreconditions(both(null, '"3"'), strong3, "GET")).toBe("not_modified");
    expect(evaluatePreconditions(both(null, '"3"'), strong3, "HEAD")).toBe("not_modified");
    expect(evaluatePreconditions(both(null, '"3"'), strong3, "PATCH")).toBe("precondition_failed");
    expect(evaluatePreconditions(both('"2"', '"3"'), strong3, "GET")).toBe("precondition_failed");
    expect(evaluatePreconditions(both('"3"', '"2"'), strong3, "PUT")).toBe("proceed");
  });
});
