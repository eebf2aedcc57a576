import { describe, expect, it } from "vitest";
import { prettyLine } from "../../src/lib/logger.ts";

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
