import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { StoredTokenRecord } from "../../src/integration/session/acme-session.ts";
import { api, createContact, newConnection } from "./helpers.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

/** The JSON log lines the Worker wrote while `run` ran. */
async function logLines(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const spy = vi.spyOn(console, "log").mockImplementation(() => {});
  await run();
  const lines = spy.mock.calls.map((args) => String(args[0]));
  spy.mockRestore();
  return lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

describe("one structured log line per request", () => {
  it("names method, route, status, duration, Acme attempts and wait, cache result and connection", async () => {
    const connection = await newConnection();
    const contact = await createContact(connection.apiKey);
    let requestId = "";
    const lines = await logLines(async () => {
      const res = await api(`/api/v1/contacts/${contact.id}`, { key: connection.apiKey });
      requestId = res.headers.get("x-request-id") ?? "";
    });
    const line = lines.find((l) => l.message === "api request" && l.requestId === requestId);
    expect(line).toMatchObject({
      level: "info",
      system: "integration",
      method: "GET",
      route: "/api/v1/contacts/:id",
      status: 200,
      acmeAttempts: 1,
      acmeRetries: 0,
      acmeWaitMs: 0,
      cache: "MISS",
      connection: connection.connectionId,
    });
    expect(typeof line?.durationMs).toBe("number");
    // The in-process call to Acme carries the same request id, so both systems' lines match up.
    expect(lines.some((l) => l.system === "acme" && l.requestId === requestId)).toBe(true);
  });

  it("logs a refused request too, without a connection", async () => {
    const lines = await logLines(() => api("/api/v1/contacts", { key: "ab_wrong" }));
    expect(lines.find((l) => l.message === "api request")).toMatchObject({ status: 401, connection: null });
  });
});

describe("GET /api/v1/status", () => {
  it("gives the token's expiry but never the token itself", async () => {
    const connection = await newConnection();
    await api("/api/v1/contacts?limit=1", { key: connection.apiKey });
    const session = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(connection.connectionId));
    const stored = await runInDurableObject(session, (_instance, state) =>
      state.storage.kv.get<StoredTokenRecord>("token"),
    );
    expect(stored?.accessToken).toBeTruthy();
    const res = await api("/api/v1/status", { key: connection.apiKey });
    const text = await res.text();
    expect(JSON.parse(text).token).toEqual({ expiresAt: new Date(stored?.expiresAt ?? 0).toISOString() });
    expect(text).not.toContain(stored?.accessToken ?? "missing");
  });

  it("needs an API key", async () => {
    expect((await api("/api/v1/status")).status).toBe(401);
  });
});
