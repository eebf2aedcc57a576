import { SELF } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BASE } from "./helpers.ts";

const RAW_CONTROL = /[\p{Cc}\u2028\u2029]/u;
/** A newline, a forged request line, then a clear-screen escape and a C1 CSI, percent-encoded. */
const FORGING_PATH = "/x%0A14:03:07%20POST%20/api/v1/admin/connections%20201%201ms%1B[2J%C2%9B31m";

afterEach(() => {
  vi.restoreAllMocks();
  (workerEnv as { LOG_FORMAT?: string }).LOG_FORMAT = "json";
});

/** Every line the Worker logged (any level) while `run` ran. */
async function loggedLines(run: () => Promise<unknown>): Promise<string[]> {
  const spies = (["log", "warn", "error"] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation(() => {}),
  );
  await run();
  return spies.flatMap((spy) => spy.mock.calls.map((args) => String(args[0])));
}

describe("a request path holding control characters", () => {
  it.each([
    ["pretty", "integration", `${BASE}${FORGING_PATH}`],
    ["pretty", "Acme", `${BASE}/acme${FORGING_PATH}`],
    ["json", "integration", `${BASE}${FORGING_PATH}`],
    ["json", "Acme", `${BASE}/acme${FORGING_PATH}`],
  ])(
    "is logged escaped in the %s format (%s), on one line and without a terminal escape",
    async (format, _system, url) => {
      (workerEnv as { LOG_FORMAT?: string }).LOG_FORMAT = format;
      const lines = await loggedLines(async () => {
        const res = await SELF.fetch(url);
        expect(res.status).toBe(404);
        await res.arrayBuffer();
      });
      const requestLines = lines.filter((line) => line.includes("14:03:07"));
      expect(requestLines).toHaveLength(1);
      for (const line of lines) expect(line).not.toMatch(RAW_CONTROL);
      expect(requestLines[0]).toContain("\\u001b[2J");
      expect(requestLines[0]?.startsWith("{")).toBe(format === "json");
    },
  );
});
