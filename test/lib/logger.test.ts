import { describe, expect, it } from "vitest";
import { escapeControlCharacters, jsonLine, prettyLine } from "../../src/lib/logger.ts";

const AT = new Date("2026-11-29T14:03:07.123Z");

describe("pretty log lines (LOG_FORMAT=pretty)", () => {
  it("shortens a request line to method, path, status, duration and what is not zero", () => {
    const line = prettyLine("info", "api request", AT, {
      system: "integration",
      requestId: "9ea21c09",
      method: "POST",
      route: "/api/v1/contacts",
      path: "/api/v1/contacts",
      status: 201,
      durationMs: 34.4,
      acmeAttempts: 1,
      acmeRetries: 0,
      acmeWaitMs: 0,
      cache: null,
      connection: "conn_1",
    });
    expect(line).toBe("14:03:07 POST /api/v1/contacts 201 34ms acme=1 conn=conn_1");
  });

  it("writes other events as level, message and fields, without the stack", () => {
    const line = prettyLine("warn", "inbox message failed; retrying", AT, {
      attempts: 2,
      error: "D1 busy",
      stack: "Error: D1 busy\n    at ...",
      details: { a: 1 },
    });
    expect(line).toBe(
      '14:03:07 WARN inbox message failed; retrying attempts=2 error=D1 busy details={"a":1}',
    );
    expect(line).not.toContain("\n");
  });
});

/** Every C0 and C1 control, DEL, and the line and paragraph separators: what may never print raw. */
const CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  ...Array.from({ length: 0x21 }, (_, i) => String.fromCharCode(0x7f + i)),
  "\u2028",
  "\u2029",
];
const RAW_CONTROL = /[\p{Cc}\u2028\u2029]/u;

describe("control characters in logged values", () => {
  const forged = "/x\n14:03:07 POST /api/v1/admin/connections 201 1ms\u001b[2J\u009b31m\u2028";

  it("are escaped in a pretty request line, so a path cannot start a forged line or drive the terminal", () => {
    const line = prettyLine("info", "api request", AT, {
      method: "GET",
      path: forged,
      status: 404,
      durationMs: 1,
      error: "a\rb",
    });
    expect(line).toBe(
      "14:03:07 GET /x\\n14:03:07 POST /api/v1/admin/connections 201 1ms\\u001b[2J\\u009b31m\\u2028 404 1ms error=a\\rb",
    );
    expect(line).not.toMatch(RAW_CONTROL);
  });

  it("are escaped in a pretty event line's message, string fields and object fields", () => {
    const line = prettyLine("warn", `bad ${CONTROLS.join("")}`, AT, {
      text: CONTROLS.join(""),
      details: { nested: CONTROLS.join("") },
    });
    expect(line).not.toMatch(RAW_CONTROL);
    expect(line.split("\n")).toHaveLength(1);
  });

  it("doubles a backslash in pretty lines, so an escape written by the client reads apart from one made here", () => {
    expect(escapeControlCharacters("a\\nb\nc")).toBe("a\\\\nb\\nc");
  });

  it("are escaped in JSON lines too (DEL, C1 and U+2028/9, which JSON.stringify leaves raw), and the line parses back", () => {
    const value = CONTROLS.join("");
    const line = jsonLine({ level: "info", path: value });
    expect(line).not.toMatch(RAW_CONTROL);
    expect(line).toContain("\\u009b");
    expect(JSON.parse(line)).toEqual({ level: "info", path: value });
  });

  it("leaves ordinary text, including non-ASCII, as it was", () => {
    expect(escapeControlCharacters("/api/v1/contacts/ct_1 Zoë 東京 🎉")).toBe(
      "/api/v1/contacts/ct_1 Zoë 東京 🎉",
    );
    expect(jsonLine({ name: "Zoë 東京" })).toBe('{"name":"Zoë 東京"}');
  });
});
