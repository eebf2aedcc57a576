import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatEtag, ifMatchAllows, parseIfMatch } from "../../src/lib/etag.ts";

describe("formatEtag", () => {
  it("quotes the version as a strong ETag", () => {
    expect(formatEtag(1)).toBe('"1"');
    expect(formatEtag(42)).toBe('"42"');
  });

  it("property: every ETag it writes parses back to its own version", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), (version) => {
        expect(parseIfMatch(formatEtag(version))).toEqual({ kind: "versions", versions: [version] });
      }),
    );
  });
});

describe("parseIfMatch", () => {
  it.each([[undefined], [null], [""], ["   "]])("treats %j as no precondition", (header) => {
    expect(parseIfMatch(header)).toBeNull();
  });

  it.each([
    ["*", { kind: "any" }],
    [" * ", { kind: "any" }],
    ['"3"', { kind: "versions", versions: [3] }],
    ['"1", "2"', { kind: "versions", versions: [1, 2] }],
    ['"7","8" , "9"', { kind: "versions", versions: [7, 8, 9] }],
    // RFC 9110 5.6.1: empty list elements are accepted and count for nothing.
    ['"1",', { kind: "versions", versions: [1] }],
    [',"1"', { kind: "versions", versions: [1] }],
  ])("reads %j", (header, expected) => {
    expect(parseIfMatch(header)).toEqual(expected);
  });

  it.each([
    ["3"],
    ['W/"3"'],
    ['"abc"'],
    ['"-1"'],
    ['"1.5"'],
    ['"01"'],
    [","],
    ['*, "1"'],
    ['"1" "2"'],
    ['"1234567890123456"'],
    ["'1'"],
  ])("marks %j invalid", (header) => {
    expect(parseIfMatch(header)).toEqual({ kind: "invalid" });
  });
});

describe("ifMatchAllows", () => {
  it("allows any version without a precondition or with *", () => {
    expect(ifMatchAllows(null, 5)).toBe(true);
    expect(ifMatchAllows({ kind: "any" }, 5)).toBe(true);
  });

  it("allows only a listed version", () => {
    const ifMatch = parseIfMatch('"2", "4"');
    expect(ifMatchAllows(ifMatch, 2)).toBe(true);
    expect(ifMatchAllows(ifMatch, 4)).toBe(true);
    expect(ifMatchAllows(ifMatch, 3)).toBe(false);
  });

  it("never allows an invalid header, whatever the version", () => {
    for (const version of [0, 1, 3]) expect(ifMatchAllows({ kind: "invalid" }, version)).toBe(false);
  });
});
