import { env, runInDurableObject, SELF } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import { createAcmeClient } from "../../src/integration/acme-client/create-acme-client.ts";
import { DEFAULT_TOKEN_LIFETIME_SECONDS } from "../../src/integration/acme-client/token-exchange.ts";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { AcmeContacts } from "../../src/integration/contacts/acme-contacts.ts";
import { connections } from "../../src/integration/db/schema.ts";
import type { AcmeSession } from "../../src/integration/session/acme-session.ts";
import {
  isUsable,
  LEASE_MS,
  type Lease,
  leaseActive,
  REFRESH_AHEAD_MS,
} from "../../src/integration/session/token-lease.ts";
import { createClient } from "../acme/helpers.ts";
import { api, connect, expectProblem, newConnection, person, type TestConnection } from "./helpers.ts";

const TOKEN_POLICY = { limit: 1000, windowSeconds: 60 };

/** Token requests Acme has counted for this client in the current window (minus a constant). */
async function tokenRequestsLeft(conn: TestConnection): Promise<number> {
  const limiter = env.ACME_LIMITER.get(env.ACME_LIMITER.idFromName(conn.acmeClient.clientId));
  return (await limiter.peek("token", TOKEN_POLICY)).remaining;
}

const session = (conn: TestConnection) =>
  env.ACME_SESSION.get(env.ACME_SESSION.idFromName(conn.connectionId));

interface StoredTokenRecord {
  accessToken: string;
  expiresAt: number;
  lifetimeMs: number;
}

function storeToken(conn: TestConnection, token: StoredTokenRecord): Promise<void> {
  return runInDurableObject(session(conn), (_instance: AcmeSession, state) => {
    state.storage.kv.put("token", token);
  });
}

function storedToken(conn: TestConnection): Promise<StoredTokenRecord | undefined> {
  return runInDurableObject(session(conn), (_instance: AcmeSession, state) =>
    state.storage.kv.get<StoredTokenRecord>("token"),
  );
}

async function warmedUp(): Promise<TestConnection> {
  const conn = await newConnection();
  expect((await api("/api/v1/contacts", { key: conn.apiKey })).status).toBe(200);
  return conn;
}

describe("token single flight", () => {
  it("a stored, usable token is reused: many calls, no token request", async () => {
    const conn = await warmedUp();
    const before = await tokenRequestsLeft(conn);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => api("/api/v1/contacts", { key: conn.apiKey })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(await tokenRequestsLeft(conn)).toBe(before);
  });

  it("100 concurrent calls right after the token expired cause exactly one token request", async () => {
    const conn = await warmedUp();
    const warm = await storedToken(conn);
    expect(warm?.expiresAt).toBeGreaterThan(Date.now());
    await storeToken(conn, { accessToken: "x", expiresAt: Date.now() - 1000, lifetimeMs: 3_600_000 });
    const before = await tokenRequestsLeft(conn);

    const responses = await Promise.all(
      Array.from({ length: 100 }, () => api("/api/v1/contacts", { key: conn.apiKey })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    expect(before - (await tokenRequestsLeft(conn))).toBe(1);
    const renewed = await storedToken(conn);
    expect(renewed?.accessToken).not.toBe("x");
    expect(renewed?.expiresAt).toBeGreaterThan(Date.now());
  });

  it("a token inside its refresh-ahead window is renewed before it expires", async () => {
    const conn = await warmedUp();
    const current = await storedToken(conn);
    await storeToken(conn, {
      accessToken: current?.accessToken ?? "",
      expiresAt: Date.now() + REFRESH_AHEAD_MS / 2,
      lifetimeMs: 3_600_000,
    });
    const before = await tokenRequestsLeft(conn);
    expect((await api("/api/v1/contacts", { key: conn.apiKey })).status).toBe(200);
    expect(before - (await tokenRequestsLeft(conn))).toBe(1);
  });

  it("a token Acme rejects causes exactly one refresh and the call still succeeds", async () => {
    const conn = await warmedUp();
    await storeToken(conn, {
      accessToken: "garbage",
      expiresAt: Date.now() + 3_600_000,
      lifetimeMs: 3_600_000,
    });
    const before = await tokenRequestsLeft(conn);
    const res = await api("/api/v1/contacts", { key: conn.apiKey, method: "POST", body: person() });
    expect(res.status).toBe(201);
    expect(before - (await tokenRequestsLeft(conn))).toBe(1);
    expect((await storedToken(conn))?.accessToken).not.toBe("garbage");
  });

  it("many concurrent calls holding a rejected token still refresh it only once", async () => {
    const conn = await warmedUp();
    await storeToken(conn, {
      accessToken: "garbage",
      expiresAt: Date.now() + 3_600_000,
      lifetimeMs: 3_600_000,
    });
    const before = await tokenRequestsLeft(conn);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => api("/api/v1/contacts", { key: conn.apiKey })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(before - (await tokenRequestsLeft(conn))).toBe(1);
  });
});

describe("a token endpoint that leaves out expires_in (optional, RFC 6749 5.1)", () => {
  /** Acme's contacts for the connection through a token endpoint that drops expires_in. */
  async function throughTokenWithoutLifetime(conn: TestConnection) {
    const connection = await drizzle(env.DB)
      .select()
      .from(connections)
      .where(eq(connections.id, conn.connectionId))
      .get();
    if (!connection) throw new Error("no connection");
    let tokensIssued = 0;
    const client = createAcmeClient(env, loadIntegrationConfig(env), connection, {
      inProcess: async (request) => {
        const response = await SELF.fetch(request);
        if (!new URL(request.url).pathname.endsWith("/oauth/token") || response.status !== 200)
          return response;
        tokensIssued += 1;
        const { expires_in: _, ...token } = await response.json<Record<string, unknown>>();
        return Response.json(token);
      },
      stats: { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 },
      priority: "background",
    });
    return { contacts: new AcmeContacts(client), tokensIssued: () => tokensIssued };
  }

  it("the connection stays usable: the token is taken for the default lifetime and reused", async () => {
    const conn = await warmedUp();
    await storeToken(conn, { accessToken: "x", expiresAt: Date.now() - 1000, lifetimeMs: 3_600_000 });
    const { contacts, tokensIssued } = await throughTokenWithoutLifetime(conn);
    const before = Date.now();

    await expect(contacts.list({ limit: 5 })).resolves.toMatchObject({ results: expect.any(Array) });
    await expect(contacts.list({ limit: 5 })).resolves.toMatchObject({ results: expect.any(Array) });
    expect(tokensIssued()).toBe(1);
    const stored = await storedToken(conn);
    expect(stored?.accessToken).not.toBe("x");
    expect(stored?.lifetimeMs).toBe(DEFAULT_TOKEN_LIFETIME_SECONDS * 1000);
    expect(stored?.expiresAt).toBeGreaterThanOrEqual(before + DEFAULT_TOKEN_LIFETIME_SECONDS * 1000 - 1000);
    expect(stored?.expiresAt).toBeLessThanOrEqual(Date.now() + DEFAULT_TOKEN_LIFETIME_SECONDS * 1000);
  });
});

describe("credentials Acme refuses", () => {
  it("a connection whose Acme secret is wrong gets 502 acme_auth_failed, never the secret or Acme's body", async () => {
    const client = await createClient();
    const conn = await connect({ clientId: client.clientId, clientSecret: `${client.clientSecret}x` });
    for (let i = 0; i < 2; i++) {
      const res = await api("/api/v1/contacts", { key: conn.apiKey });
      const body = await expectProblem(res, 502, "acme_auth_failed");
      const text = JSON.stringify(body);
      expect(text).not.toContain(client.clientSecret);
      expect(text).not.toContain("invalid_client");
    }
    expect(await storedToken(conn)).toBeUndefined();
  });

  it("the status says the credentials were refused and no token was ever obtained, until one is", async () => {
    const client = await createClient();
    const conn = await connect({ clientId: client.clientId, clientSecret: `${client.clientSecret}x` });
    await expectProblem(await api("/api/v1/contacts", { key: conn.apiKey }), 502, "acme_auth_failed");
    const refused = await api("/api/v1/status", { key: conn.apiKey });
    expect(refused.status).toBe(200);
    const status = await refused.json<{ tokenObtainedAt: string | null; tokenFailure: unknown }>();
    expect(status.tokenObtainedAt).toBeNull();
    expect(status.tokenFailure).toMatchObject({
      code: "acme_auth_failed",
      detail: "Acme refused this connection's client credentials.",
      at: expect.stringMatching(/^\d{4}-/),
    });
    expect(JSON.stringify(status)).not.toContain(client.clientSecret);

    const good = await newConnection();
    expect((await api("/api/v1/contacts", { key: good.apiKey })).status).toBe(200);
    const fine = await (await api("/api/v1/status", { key: good.apiKey })).json<typeof status>();
    expect(fine.tokenObtainedAt).toMatch(/^\d{4}-/);
    expect(fine.tokenFailure).toBeNull();
  });

  it("a token obtained after a refusal clears the refusal from the status", async () => {
    const stub = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(`unit-${crypto.randomUUID()}`));
    const first = await stub.acquireToken();
    if (first.kind !== "lease") throw new Error("expected a lease");
    await stub.releaseLease(first.leaseId, { code: "acme_auth_failed", detail: "refused" });
    expect((await stub.status()).tokenFailure).toMatchObject({ code: "acme_auth_failed" });
    const second = await stub.acquireToken();
    if (second.kind !== "lease") throw new Error("expected a lease");
    await stub.storeToken(second.leaseId, "tok", 3600);
    const status = await stub.status();
    expect(status.tokenFailure).toBeNull();
    expect(status.tokenObtainedAt).toMatch(/^\d{4}-/);
  });

  it("a connection to an unknown Acme client gets 502 acme_auth_failed", async () => {
    const conn = await connect({ clientId: "cl_does_not_exist", clientSecret: "whatever" });
    await expectProblem(await api("/api/v1/contacts", { key: conn.apiKey }), 502, "acme_auth_failed");
  });

  it("a client without the write scope can read but gets 502 acme_auth_failed on writes", async () => {
    const conn = await newConnection({ scopes: ["contacts.read"] });
    expect((await api("/api/v1/contacts", { key: conn.apiKey })).status).toBe(200);
    const res = await api("/api/v1/contacts", { key: conn.apiKey, method: "POST", body: person() });
    await expectProblem(res, 502, "acme_auth_failed");
  });
});

describe("AcmeSession lease", () => {
  it("hands out one lease; a second caller waits until the token is stored and then gets it", async () => {
    const stub = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(`unit-${crypto.randomUUID()}`));
    const first = await stub.acquireToken();
    expect(first.kind).toBe("lease");
    let settled = false;
    const second = stub.acquireToken().then((grant) => {
      settled = true;
      return grant;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    if (first.kind !== "lease") throw new Error("expected a lease");
    await stub.storeToken(first.leaseId, "tok-1", 3600);
    expect(await second).toMatchObject({ kind: "token", accessToken: "tok-1" });
  });

  it("a released lease passes to the next waiter, who gets a lease rather than a token", async () => {
    const stub = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(`unit-${crypto.randomUUID()}`));
    const first = await stub.acquireToken();
    if (first.kind !== "lease") throw new Error("expected a lease");
    const second = stub.acquireToken();
    await stub.releaseLease(first.leaseId);
    const next = await second;
    expect(next.kind).toBe("lease");
    if (next.kind === "lease") expect(next.leaseId).not.toBe(first.leaseId);
  });

  it("a stale lease id cannot store a token or release another caller's lease", async () => {
    const stub = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(`unit-${crypto.randomUUID()}`));
    const grant = await stub.acquireToken();
    if (grant.kind !== "lease") throw new Error("expected a lease");
    await stub.releaseLease("not-the-lease");
    const active = await runInDurableObject(stub, (instance: AcmeSession) => {
      return (instance as unknown as { lease: Lease | null }).lease;
    });
    expect(active?.id).toBe(grant.leaseId);
  });

  it("a lease abandoned past LEASE_MS is taken over by the next caller", async () => {
    const stub = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(`unit-${crypto.randomUUID()}`));
    const grant = await stub.acquireToken();
    if (grant.kind !== "lease") throw new Error("expected a lease");
    await runInDurableObject(stub, (instance: AcmeSession) => {
      const held = instance as unknown as { lease: Lease | null };
      if (held.lease) held.lease.until = Date.now() - 1;
    });
    const next = await stub.acquireToken();
    expect(next.kind).toBe("lease");
    if (next.kind === "lease") expect(next.leaseId).not.toBe(grant.leaseId);
  });

  it("invalidateToken forgets only the token it names", async () => {
    const stub = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(`unit-${crypto.randomUUID()}`));
    const grant = await stub.acquireToken();
    if (grant.kind !== "lease") throw new Error("expected a lease");
    await stub.storeToken(grant.leaseId, "current", 3600);
    await stub.invalidateToken("older");
    expect(await stub.acquireToken()).toMatchObject({ kind: "token", accessToken: "current" });
    await stub.invalidateToken("current");
    expect((await stub.acquireToken()).kind).toBe("lease");
  });
});

describe("token-lease decisions", () => {
  const now = 1_700_000_000_000;
  const HOUR = 3_600_000;

  it("no token is never usable", () => {
    expect(isUsable(null, now)).toBe(false);
  });

  it("a token is usable until REFRESH_AHEAD_MS before it expires, not after", () => {
    const token = { accessToken: "t", expiresAt: now + HOUR };
    expect(isUsable(token, now, HOUR)).toBe(true);
    expect(isUsable(token, now + HOUR - REFRESH_AHEAD_MS - 1, HOUR)).toBe(true);
    expect(isUsable(token, now + HOUR - REFRESH_AHEAD_MS, HOUR)).toBe(false);
    expect(isUsable(token, now + HOUR, HOUR)).toBe(false);
    expect(isUsable(token, now + HOUR + 1, HOUR)).toBe(false);
  });

  it("without a known lifetime the full refresh-ahead margin applies", () => {
    const token = { accessToken: "t", expiresAt: now + REFRESH_AHEAD_MS + 1 };
    expect(isUsable(token, now)).toBe(true);
    expect(isUsable(token, now + 1)).toBe(false);
  });

  it("a short-lived token is refreshed at half its lifetime, not REFRESH_AHEAD_MS early", () => {
    const lifetime = 10_000;
    const token = { accessToken: "t", expiresAt: now + lifetime };
    expect(isUsable(token, now + lifetime / 2 - 1, lifetime)).toBe(true);
    expect(isUsable(token, now + lifetime / 2, lifetime)).toBe(false);
  });

  it("a lease is active until its deadline, and no lease is never active", () => {
    const lease = { id: "l", until: now + LEASE_MS };
    expect(leaseActive(null, now)).toBe(false);
    expect(leaseActive(lease, now)).toBe(true);
    expect(leaseActive(lease, now + LEASE_MS - 1)).toBe(true);
    expect(leaseActive(lease, now + LEASE_MS)).toBe(false);
  });
});
