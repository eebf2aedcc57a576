import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeForm,
  decodeUtf8,
  illFormedQueryParameter,
  illFormedTextPath,
} from "../../src/lib/unicode-text.ts";

describe("illFormedTextPath", () => {
  it("finds nothing in well-formed text, astral characters included", () => {
    expect(illFormedTextPath({ name: "Émile 😀", tags: ["a", "ß"], n: 1, ok: true, none: null })).toBeNull();
    expect(illFormedTextPath("x")).toBeNull();
  });

  it.each([
    [JSON.parse('{"acme_first_name":"x\\ud800y"}'), "acme_first_name", "a lone high surrogate"],
    [JSON.parse('{"acme_notes":"\\udc00"}'), "acme_notes", "a lone low surrogate"],
    [JSON.parse('{"a":"ok","b":"\\ude00\\ud83d"}'), "b", "a reversed pair"],
    [JSON.parse('{"events":["contact.created","\\ud800"]}'), "events.1", "an array element"],
    [JSON.parse('{"rate_limits":{"read":{"x":"\\ud800"}}}'), "rate_limits.read.x", "a nested value"],
    [JSON.parse('{"\\ud800":"value"}'), "body", "a top-level key (named by its parent)"],
    [JSON.parse('{"outer":{"\\ud800":1}}'), "outer", "a nested key"],
    [JSON.parse('"\\ud800"'), "body", "a bare string body"],
  ])("names %j as %s (%s)", (value, path) => {
    expect(illFormedTextPath(value)).toBe(path);
  });

  it("property: any object of well-formed strings passes; one lone surrogate anywhere is found", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" })),
        (record) => {
          expect(illFormedTextPath(record)).toBeNull();
          const spoiled = { ...record, spoiled: `x${String.fromCharCode(0xd800)}` };
          expect(illFormedTextPath(spoiled)).toBe("spoiled");
        },
      ),
    );
  });
});

describe("illFormedQueryParameter", () => {
  it.each([
    "https://acme.test/v1/contacts",
    "https://acme.test/v1/contacts?",
    "https://acme.test/v1/contacts?email=%C3%A9mile%40example.com&limit=5",
    "https://acme.test/v1/contacts?email=a+b&flag",
    "https://acme.test/v1/contacts?q=%F0%9F%98%80#frag%ZZ",
  ])("accepts %s", (url) => {
    expect(illFormedQueryParameter(url)).toBeNull();
  });

  it.each([
    ["https://acme.test/v1/contacts?email=%ED%A0%80", "email", "an encoded lone surrogate"],
    ["https://acme.test/v1/contacts?limit=1&email=%FF", "email", "a byte that is never UTF-8"],
    ["https://acme.test/v1/contacts?email=%C3", "email", "a truncated sequence"],
    ["https://acme.test/v1/contacts?email=%C0%AF", "email", "an overlong form"],
    ["https://acme.test/v1/contacts?after=100%", "after", "a bare percent sign"],
    ["https://acme.test/v1/contacts?%FF=1", "%FF", "a name that does not decode (named as written)"],
  ])("names the parameter in %s (%s)", (url, name) => {
    expect(illFormedQueryParameter(url)).toBe(name);
  });
});

describe("decodeForm", () => {
  it("decodes names and values, + as space, keeping order and repeats; empty pairs count for nothing", () => {
    expect(decodeForm("a=1&&b=x+y%21&a=%C3%A9&flag")).toEqual({
      pairs: [
        ["a", "1"],
        ["b", "x y!"],
        ["a", "é"],
        ["flag", ""],
      ],
    });
  });

  it("names the first parameter that does not decode, by its decoded name", () => {
    expect(decodeForm("ok=1&client_id=%ED%A0%80&later=%FF")).toEqual({ illFormed: "client_id" });
    expect(decodeForm("%E2%82=1")).toEqual({ illFormed: "%E2%82" });
  });
});

describe("decodeUtf8", () => {
  it("decodes UTF-8 and drops a byte order mark", () => {
    expect(decodeUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0xc3, 0xa9]))).toBe("hé");
  });

  it.each([
    [[0xff], "a byte that is never UTF-8"],
    [[0xed, 0xa0, 0x80], "an encoded surrogate"],
    [[0xc3], "a truncated sequence"],
  ])("refuses %j (%s) instead of replacing it with U+FFFD", (bytes) => {
    expect(decodeUtf8(new Uint8Array(bytes))).toBeNull();
  });
});
