import { describe, expect, it } from "vitest";
import { approveAuthorization, createAccountUser, registerApp } from "../acme/oauth-helpers.ts";
import { useOwnServer } from "./own-server.ts";

// An OAuth connection under a minute of continuous traffic while its access tokens live 5 s
// (wrangler dev of its own): each token is refreshed about every 2.5 s, by whichever request
// finds it due, while ten readers keep going. Every request must be answered, Acme must never
// see a refresh token twice, and no refresh may end in invalid_grant.

const TRAFFIC_MS = 60_000;
const READERS = 10;
const PASSWORD = "correct horse battery staple";

const server = useOwnServer("oauth-refresh", {
  ACME_TOKEN_TTL_SECONDS: "5",
  // Quotas far above this traffic: the test is about refreshes, not throttling.
  ACME_RATE_LIMITS: JSON.stringify({
    read: { limit: 100_000, windowSeconds: 60 },
    write: { limit: 10_000, windowSeconds: 60 },
    delete: { limit: 10_000, windowSeconds: 60 },
    token: { limit: 10_000, windowSeconds: 60 },
    token_failure: { limit: 5, windowSeconds: 300 },
  }),
});

interface TokenLogEntry {
  grant_type: string;
  grant_id: string | null;
  refresh_token_id: string | null;
  outcome: string;
}

/** Connects an Acme account's user through the hosted connect flow (OAuth); returns the connection id. */
async function connectThroughTheFlow(): Promise<{ connectionId: string; apiKey: string }> {
  const { url, secrets, acmeAdmin, admin, fetch } = server();
  const target = { base: `${url}/acme`, adminToken: acmeAdmin };
  await registerApp(
    fetch,
    {
      name: "acme-bridge",
      redirectUris: [`${url}/connect/callback`],
      client_id: "acme-bridge",
      client_secret: secrets.ACME_OAUTH_CLIENT_SECRET ?? "",
    },
    target,
  );
  const account = await fetch(`${url}/acme/admin/clients`, {
    method: "POST",
    headers: { authorization: `Bearer ${acmeAdmin}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "oauth refresh e2e" }),
  });
  expect(account.status).toBe(201);
  const { client_id: accountId } = (await account.json()) as { client_id: string };
  const email = `owner.${crypto.randomUUID()}@example.com`;
  await createAccountUser(fetch, accountId, { email, password: PASSWORD }, target);

  const endUserId = `e2e_${crypto.randomUUID()}`;
  const adminHeaders = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
  const session = await fetch(`${url}/api/v1/admin/connect-sessions`, {
    method: "POST",
    headers: adminHeaders,
    body: JSON.stringify({ endUserId, method: "oauth" }),
  });
  expect(session.status).toBe(201);
  const page = await fetch(((await session.json()) as { url: string }).url, { redirect: "manual" });
  expect(page.status).toBe(200);
  const href = /id="continue" href="([^"]+)"/.exec(await page.text())?.[1]?.replace(/&amp;/g, "&");
  if (!href) throw new Error("no link to Acme on the connect page");
  const callback = await approveAuthorization(fetch, href, { email, password: PASSWORD });
  expect(callback.startsWith(`${url}/connect/callback?`)).toBe(true);
  const done = await fetch(callback, { redirect: "manual" });
  expect(done.status).toBeLessThan(400);
  await done.body?.cancel();

  const listed = await fetch(`${url}/api/v1/admin/connections?endUserId=${endUserId}`, {
    headers: adminHeaders,
  });
  const { data } = (await listed.json()) as { data: { id: string; method: string; status: string }[] };
  expect(data).toEqual([expect.objectContaining({ method: "oauth", status: "active" })]);
  const connectionId = data[0]?.id ?? "";
  const key = await fetch(`${url}/api/v1/admin/connections/${connectionId}/api-keys`, {
    method: "POST",
    headers: adminHeaders,
  });
  expect(key.status).toBe(201);
  return { connectionId, apiKey: ((await key.json()) as { apiKey: string }).apiKey };
}

describe("an OAuth connection under continuous traffic, access tokens living 5 s", () => {
  it("a minute of 10 concurrent readers: every request answered 2xx, no invalid_grant, every refresh token presented once", {
    timeout: 120_000,
  }, async () => {
    const { url, acmeAdmin, fetch } = server();
    const { apiKey } = await connectThroughTheFlow();
    const headers = { authorization: `Bearer ${apiKey}` };

    const statuses = new Map<number, number>();
    const until = Date.now() + TRAFFIC_MS;
    await Promise.all(
      Array.from({ length: READERS }, async () => {
        while (Date.now() < until) {
          const res = await fetch(`${url}/api/v1/contacts?limit=5`, { headers });
          await res.body?.cancel();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }
      }),
    );

    const logRes = await fetch(`${url}/acme/admin/apps/acme-bridge/token-log?limit=1000`, {
      headers: { authorization: `Bearer ${acmeAdmin}` },
    });
    expect(logRes.status).toBe(200);
    const log = ((await logRes.json()) as { data: TokenLogEntry[] }).data;
    const refreshes = log.filter((entry) => entry.grant_type === "refresh_token");
    const ids = refreshes.map((entry) => entry.refresh_token_id);
    const requests = [...statuses.values()].reduce((sum, n) => sum + n, 0);
    console.log(
      `oauth refresh e2e: ${requests} requests in ${TRAFFIC_MS / 1000} s (statuses ${JSON.stringify(Object.fromEntries(statuses))}), ` +
        `${refreshes.length} refreshes at Acme, ${log.length} token requests in all`,
    );

    expect(Object.fromEntries(statuses)).toEqual({ 200: requests });
    expect(requests).toBeGreaterThan(READERS * 10);
    expect(log.filter((entry) => entry.outcome !== "issued")).toEqual([]);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    expect(ids.every((id) => typeof id === "string")).toBe(true);
    // A 5 s token is refreshed when half of it is left: about every 2.5 s for a minute.
    expect(refreshes.length).toBeGreaterThanOrEqual(TRAFFIC_MS / 5000);
    expect(refreshes.length).toBeLessThanOrEqual(TRAFFIC_MS / 1000);
  });
});
