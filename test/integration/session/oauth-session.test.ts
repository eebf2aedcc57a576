import { env, runInDurableObject } from "cloudflare:test";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import { connections } from "../../../src/integration/db/schema.ts";
import type { AcmeSession } from "../../../src/integration/session/acme-session.ts";
import type { AttemptReport, BeginRequest } from "../../../src/integration/session/protocol.ts";
import type { Lease } from "../../../src/integration/session/token-lease.ts";
import { LEASE_MS } from "../../../src/integration/session/token-lease.ts";

// The AcmeSession's side of an OAuth connection's refresh (the real Durable Object): the refresh
// token goes out with the lease only, the rotated one is stored only in place of the one
// presented, and a refused grant stops every call until a new one is installed.

const READ: BeginRequest = { rateClass: "read", priority: "interactive", maxWaitMs: 2000 };
const LEARNED: AttemptReport = {
  rateClass: "read",
  probe: false,
  health: "success",
  rate: { limit: 10_000, windowSeconds: 60, remaining: 9_999, resetSeconds: 60 },
};

/** A session that knows Acme's read quota already, so every call is admitted at once. */
async function session(name: string) {
  const stub = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(name));
  await stub.record([LEARNED]);
  return stub;
}

/** A connection row of method oauth (so D1's status can be checked) and its session. */
async function oauthSession() {
  const id = `conn_oauth_${crypto.randomUUID().replaceAll("-", "")}`;
  await drizzle(env.DB).insert(connections).values({
    id,
    name: "oauth session test",
    acmeBaseUrl: null,
    acmeClientId: "cl_account",
    acmeClientSecretEnc: null,
    method: "oauth",
    endUserId: "user_session_test",
    status: "active",
    webhookSecretEnc: null,
    webhookSubscriptionId: null,
    reconciledThrough: null,
    scheduleCheckedAt: null,
    createdAt: new Date().toISOString(),
  });
  return { id, stub: await session(id) };
}

async function d1Status(id: string): Promise<string | undefined> {
  const row = await env.DB.prepare("SELECT status FROM connections WHERE id = ?")
    .bind(id)
    .first<{ status: string }>();
  return row?.status;
}

/** A lease of the session, failing the test if it hands out a token instead. */
async function lease(stub: Awaited<ReturnType<typeof oauthSession>>["stub"]) {
  const { permit, grant } = await stub.begin(READ);
  expect(permit.admitted).toBe(true);
  if (grant?.kind !== "lease") throw new Error(`expected a lease, got ${JSON.stringify(grant)}`);
  return grant;
}

describe("AcmeSession with an OAuth grant", () => {
  it("hands out the stored token, and the refresh token only with the lease, to one holder at a time", async () => {
    const { stub } = await oauthSession();
    await stub.installGrant("conn_x", "sealed-rt-1", "at-1", 3600);
    expect((await stub.begin(READ)).grant).toMatchObject({ kind: "token", accessToken: "at-1" });

    await stub.invalidateToken("at-1");
    const first = await lease(stub);
    expect(first.refresh?.sealedToken).toBe("sealed-rt-1");
    expect(first.refresh?.validMs).toBeGreaterThanOrEqual(LEASE_MS);

    // Concurrent callers wait for the holder; none of them is handed the refresh token.
    const waiting = Array.from({ length: 5 }, () => stub.begin(READ));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(
      await stub.storeToken(first.leaseId, "at-2", 3600, { presented: "sealed-rt-1", next: "sealed-rt-2" }),
    ).toBe(true);
    for (const result of await Promise.all(waiting)) {
      expect(result.grant).toMatchObject({ kind: "token", accessToken: "at-2" });
    }
    const stored = await stub.sealedRefreshToken();
    expect(stored?.refreshToken).toBe("sealed-rt-2");
  });

  it("a lease granted behind a rate wait lasts that much longer", async () => {
    const { stub } = await oauthSession();
    await stub.installGrant("conn_x", "sealed-rt-1", "at-1", 3600);
    await stub.invalidateToken("at-1");
    const grant = await runInDurableObject(stub, (instance: AcmeSession) =>
      (instance as unknown as { tokenOrLease(now: number, waitMs: number): Promise<unknown> }).tokenOrLease(
        Date.now(),
        4000,
      ),
    );
    expect(grant).toMatchObject({ kind: "lease", refresh: { validMs: LEASE_MS + 4000 } });
  });

  it("refuses a rotated token that does not replace the one stored, and keeps the stored one", async () => {
    const { stub } = await oauthSession();
    await stub.installGrant("conn_x", "sealed-rt-1", "at-1", 3600);
    await stub.invalidateToken("at-1");
    const grant = await lease(stub);
    // A repair installed a new grant while the refresh ran.
    await stub.installGrant("conn_x", "sealed-rt-new", "at-new", 3600);
    expect(
      await stub.storeToken(grant.leaseId, "at-old-2", 3600, {
        presented: "sealed-rt-1",
        next: "sealed-rt-2",
      }),
    ).toBe(false);
    expect((await stub.sealedRefreshToken())?.refreshToken).toBe("sealed-rt-new");
    expect((await stub.begin(READ)).grant).toMatchObject({ kind: "token", accessToken: "at-new" });
  });

  it("a refused grant: tokens dropped, waiters and later calls refused at once, D1 and the status say so", async () => {
    const { id, stub } = await oauthSession();
    await stub.installGrant(id, "sealed-rt-1", "at-1", 3600);
    await stub.invalidateToken("at-1");
    const grant = await lease(stub);
    const waiting = stub.begin(READ);
    await stub.refuseGrant(grant.leaseId, id, "sealed-rt-1", "Acme refused the connection's OAuth grant.");

    expect((await waiting).permit).toEqual({ admitted: false, reason: "needs_reauth", retryAfterMs: 0 });
    expect((await stub.begin(READ)).permit).toMatchObject({ admitted: false, reason: "needs_reauth" });
    expect(await stub.sealedRefreshToken()).toBeNull();
    expect(await d1Status(id)).toBe("needs_reauth");
    const status = await stub.status();
    expect(status.needsReauth).toMatchObject({ detail: "Acme refused the connection's OAuth grant." });
    expect(status.token).toBeNull();
    // No rate slot was spent on the refusals.
    expect(status.counters.throttledRefusals).toBe(0);
  });

  it("a refusal of a grant that was replaced meanwhile changes nothing", async () => {
    const { id, stub } = await oauthSession();
    await stub.installGrant(id, "sealed-rt-1", "at-1", 3600);
    await stub.invalidateToken("at-1");
    const grant = await lease(stub);
    await stub.installGrant(id, "sealed-rt-new", "at-new", 3600);
    await stub.refuseGrant(grant.leaseId, id, "sealed-rt-1", "late refusal");
    expect((await stub.status()).needsReauth).toBeNull();
    expect((await stub.begin(READ)).grant).toMatchObject({ kind: "token", accessToken: "at-new" });
    expect(await d1Status(id)).toBe("active");
  });

  it("installing a new grant repairs a connection that needs reauthorization", async () => {
    const { id, stub } = await oauthSession();
    await stub.installGrant(id, "sealed-rt-1", "at-1", 3600);
    await stub.invalidateToken("at-1");
    const grant = await lease(stub);
    await stub.refuseGrant(grant.leaseId, id, "sealed-rt-1", "refused");
    await stub.installGrant(id, "sealed-rt-2", "at-2", 3600);
    expect((await stub.begin(READ)).grant).toMatchObject({ kind: "token", accessToken: "at-2" });
    const status = await stub.status();
    expect(status.needsReauth).toBeNull();
    expect(status.tokenFailure).toBeNull();
  });

  it("a lease abandoned past its time passes the same refresh token to the next holder", async () => {
    const { stub } = await oauthSession();
    await stub.installGrant("conn_x", "sealed-rt-1", "at-1", 3600);
    await stub.invalidateToken("at-1");
    const first = await lease(stub);
    await runInDurableObject(stub, (instance: AcmeSession) => {
      const held = instance as unknown as { lease: Lease | null };
      if (held.lease) held.lease.until = Date.now() - 1;
    });
    const second = await lease(stub);
    expect(second.leaseId).not.toBe(first.leaseId);
    expect(second.refresh?.sealedToken).toBe("sealed-rt-1");
  });

  it("a re-seal swaps the refresh token only when no lease is out and it is still the one read", async () => {
    const { stub } = await oauthSession();
    await stub.installGrant("conn_x", "sealed-rt-1", "at-1", 3600);
    expect(await stub.replaceSealedRefreshToken("sealed-other", "resealed")).toBe(false);
    expect(await stub.replaceSealedRefreshToken("sealed-rt-1", "resealed-rt-1")).toBe(true);
    expect((await stub.sealedRefreshToken())?.refreshToken).toBe("resealed-rt-1");

    await stub.invalidateToken("at-1");
    const grant = await lease(stub);
    expect(await stub.sealedRefreshToken()).toBeNull();
    expect(await stub.replaceSealedRefreshToken("resealed-rt-1", "again")).toBe(false);
    await stub.releaseLease(grant.leaseId);
    expect((await stub.sealedRefreshToken())?.refreshToken).toBe("resealed-rt-1");
  });

  it("a client-credentials session's lease carries no refresh token and stores tokens as before", async () => {
    const stub = await session(`cc-${crypto.randomUUID()}`);
    const grant = await lease(stub);
    expect(grant.refresh).toBeUndefined();
    expect(await stub.storeToken(grant.leaseId, "tok", 3600)).toBe(true);
    expect((await stub.begin(READ)).grant).toMatchObject({ kind: "token", accessToken: "tok" });
    expect((await stub.status()).needsReauth).toBeNull();
  });
});
