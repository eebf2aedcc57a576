import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createAcmeClient } from "../../src/integration/acme-client/create-acme-client.ts";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { findConnection } from "../../src/integration/connections/connection-store.ts";
import { installOAuthGrant } from "../../src/integration/connections/oauth-grant.ts";
import type { RequestStats } from "../../src/integration/request-stats.ts";
import { acmeSessionStub } from "../../src/integration/session/session-stub.ts";
import { insertOAuthConnection } from "../integration/oauth-connection-helpers.ts";
import { countOperations, describeCounts, expectWithinBudget } from "./count-operations.ts";

// What an OAuth connection's refresh costs the invocation that makes it, and what a call for a
// connection that needs reauthorization costs (Acme's token endpoint scripted: the count is the
// integration's own).

const config = loadIntegrationConfig(env);

/** Acme: the token endpoint rotates (or refuses the grant), the API answers 200. */
function scriptedAcme(tokenAnswer: "rotate" | "invalid_grant") {
  let rotation = 0;
  return async (request: Request): Promise<Response> => {
    if (new URL(request.url).pathname.endsWith("/oauth/token")) {
      if (tokenAnswer === "invalid_grant") return Response.json({ error: "invalid_grant" }, { status: 400 });
      rotation += 1;
      return Response.json({
        access_token: `at-${rotation}`,
        expires_in: 3600,
        refresh_token: `rt-${rotation}`,
      });
    }
    return Response.json({ data: [] });
  };
}

async function oauthConnectionNeedingRefresh() {
  const id = await insertOAuthConnection({ endUserId: `budget_${crypto.randomUUID()}` });
  await installOAuthGrant(env, config.secretKeys, id, {
    refreshToken: "rt-0",
    accessToken: "at-0",
    expiresIn: 3600,
  });
  await acmeSessionStub(env, id).invalidateToken("at-0");
  const connection = await findConnection(env.DB, id);
  if (!connection) throw new Error("no connection");
  return connection;
}

function countedClient(
  connection: NonNullable<Awaited<ReturnType<typeof findConnection>>>,
  answer: "rotate" | "invalid_grant",
) {
  const counter = countOperations(env);
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  const transport = scriptedAcme(answer);
  const fetched = { count: 0 };
  const acme = createAcmeClient(counter.env, config, connection, {
    // Acme in-process: its calls are counted here, as fetches would be.
    inProcess: (request) => {
      fetched.count += 1;
      return transport(request);
    },
    stats,
    priority: "interactive",
  });
  return { acme, counter, stats, fetched };
}

describe("an OAuth refresh's budget", () => {
  it("a call that refreshes: two fetches (token endpoint, API), at most four session calls, no D1 or KV", async () => {
    const connection = await oauthConnectionNeedingRefresh();
    const first = countedClient(connection, "rotate");
    const { acme, counter, stats } = first;
    const response = await acme.send({ method: "GET", path: "/v1/contacts" });
    expect(response.status).toBe(200);
    const { counts } = counter;
    expect([stats.acmeAttempts, first.fetched.count]).toEqual([2, 2]);
    // begin (the lease and the refresh token), storeToken (rotated token and access token), and
    // the attempt's report (batched: at most one more).
    expect(counts.durableObjectCalls, describeCounts(counts)).toBeLessThanOrEqual(4);
    expect(counts.d1Queries).toBe(0);
    expect(counts.kvOperations).toBe(0);
    expectWithinBudget(counts, { margin: 0.5 });
  });

  it("a refused grant: one fetch and a D1 write for the status; afterwards a call costs one session call and no fetch", async () => {
    const connection = await oauthConnectionNeedingRefresh();
    const first = countedClient(connection, "invalid_grant");
    await expect(first.acme.send({ method: "GET", path: "/v1/contacts" })).rejects.toMatchObject({
      code: "connection_needs_reauth",
    });
    expect([first.stats.acmeAttempts, first.fetched.count]).toEqual([1, 1]);

    const next = countedClient(connection, "invalid_grant");
    await expect(next.acme.send({ method: "GET", path: "/v1/contacts" })).rejects.toMatchObject({
      code: "connection_needs_reauth",
    });
    expect(next.stats.acmeAttempts).toBe(0);
    expect(next.counter.counts.durableObjectCalls, describeCounts(next.counter.counts)).toBe(1);
    expect(next.fetched.count).toBe(0);
    expect(next.counter.counts.d1Queries).toBe(0);
  });
});
