import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { IsolateShare } from "../../../src/integration/session/isolate-share.ts";
import type { AttemptReport, BeginRequest } from "../../../src/integration/session/protocol.ts";
import { type AcmeSessionRpc, SessionLink } from "../../../src/integration/session/session-link.ts";

const READ = { rateClass: "read" as const, priority: "interactive" as const, maxWaitMs: 2000 };
const ok = (remaining: number): AttemptReport => ({
  rateClass: "read",
  probe: false,
  health: "success",
  rate: { limit: 400, windowSeconds: 60, remaining, resetSeconds: 60 },
});

/** A real AcmeSession (its own instance), counting the calls the link makes to it. */
async function session() {
  const stub = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(`link-${crypto.randomUUID()}`));
  const calls = { begin: 0, record: 0 };
  const recorded: AttemptReport[] = [];
  const counting: AcmeSessionRpc = {
    begin: (input: BeginRequest) => {
      calls.begin += 1;
      return stub.begin(input);
    },
    record: (reports) => {
      calls.record += 1;
      recorded.push(...reports);
      return stub.record(reports);
    },
    storeToken: (leaseId, accessToken, expiresIn) => stub.storeToken(leaseId, accessToken, expiresIn),
    releaseLease: (leaseId) => stub.releaseLease(leaseId),
    invalidateToken: (accessToken) => stub.invalidateToken(accessToken),
    refuseGrant: (leaseId, connectionId, presented, detail) =>
      stub.refuseGrant(leaseId, connectionId, presented, detail),
  };
  // A token, and Acme's read quota (400 per minute) learned from one answer.
  const first = await stub.begin(READ);
  if (first.grant?.kind !== "lease") throw new Error("expected the token lease");
  await stub.storeToken(first.grant.leaseId, "token-1", 3600);
  await stub.record([ok(399)]);
  return { stub, counting, calls, recorded };
}

/**
 * A link whose clock runs `offset` ms from the real one (the session's clock is the real one),
 * taking slots ahead unless told otherwise. With `still`, its clock does not move between calls
 * but by `offset` alone, so how busy the isolate looks does not depend on how long each call to
 * the session takes (for tests where no slot ahead's expiry, set by the session's clock, matters).
 */
function linkWith(
  stub: AcmeSessionRpc,
  share: IsolateShare,
  options: { slotsAhead?: boolean; still?: boolean } = {},
) {
  const clock = { offset: 0 };
  const base = Date.now();
  const now = options.still ? () => base + clock.offset : () => Date.now() + clock.offset;
  return { link: new SessionLink(stub, share, { slotsAhead: options.slotsAhead ?? true, now }), clock, now };
}

async function remaining(stub: Awaited<ReturnType<typeof session>>["stub"]) {
  return (await stub.status()).budgets.read.remaining;
}

describe("session link: what a Worker isolate keeps between calls to the session", () => {
  it("a busy isolate takes slots ahead with the token and uses them without asking the session", async () => {
    const { stub, counting, calls } = await session();
    const { link, clock } = linkWith(counting, new IsolateShare(), { still: true });
    clock.offset = -300; // a busy period just before now: 20 calls, each admitted on its own
    for (let i = 0; i < 20; i++) await link.begin(READ);
    expect(calls.begin).toBe(20);
    const before = await remaining(stub);

    clock.offset = 0;
    const permits = [];
    for (let i = 0; i < 17; i++) permits.push(await link.begin(READ));
    expect(calls.begin).toBe(21); // one call to the session for 17 permits
    for (const { permit, grant } of permits) {
      expect(permit).toEqual({ admitted: true, waitMs: 0, probe: false });
      expect(grant).toMatchObject({ kind: "token", accessToken: "token-1" });
    }
    // The session counted the 16 slots ahead as taken when it handed them out.
    expect(await remaining(stub)).toBe((before ?? 0) - 17);
    await link.begin(READ);
    expect(calls.begin).toBe(22);
  });

  it("keeps slots ahead for their validity on its own clock, however far it runs from the session's", async () => {
    const { counting, calls } = await session();
    const { link, clock } = linkWith(counting, new IsolateShare(), { still: true });
    const skew = -10_000; // the isolate's clock runs 10 s behind the session's
    clock.offset = skew - 300;
    for (let i = 0; i < 20; i++) await link.begin(READ);
    clock.offset = skew;
    await link.begin(READ); // 1 admitted, 16 ahead, valid for at most AHEAD_TTL_MS from now
    await link.begin(READ);
    expect(calls.begin).toBe(21); // the second came from a slot held ahead
    clock.offset = skew + 300; // past their validity on this clock
    await link.begin(READ);
    expect(calls.begin).toBe(22);
  });

  it("dates each report by its age when it sends it, not by its own clock", async () => {
    const { counting, recorded } = await session();
    const { link, clock, now } = linkWith(counting, new IsolateShare(), { still: true });
    clock.offset = -60_000; // a clock a minute behind: a time of day from it would mislead the session
    // 40 ms before now on the link's own clock (read from the real clock, it could be 1 ms more).
    const answeredAt = now() - 40;
    await link.report({ ...ok(0), retryAfterMs: 1000, receivedAt: answeredAt });
    expect(recorded.at(-1)?.ageMs).toBe(40);
  });

  it("concurrent calls ask for slots ahead one at a time, and no slot is lost", async () => {
    const { stub, counting } = await session();
    const { link, clock } = linkWith(counting, new IsolateShare(), { still: true });
    clock.offset = -300;
    for (let i = 0; i < 20; i++) await link.begin(READ);
    const before = await remaining(stub);
    clock.offset = 0;
    await Promise.all(Array.from({ length: 10 }, () => link.begin(READ)));
    // 10 admitted, and 16 ahead for the one that asked (not 16 for each of them).
    expect(await remaining(stub)).toBe((before ?? 0) - 10 - 16);
    for (let i = 0; i < 16; i++) await link.begin(READ);
    expect(await remaining(stub)).toBe((before ?? 0) - 10 - 16); // all 16 used, none asked for
  });

  it("gives slots that expired unused back with its next call to the session", async () => {
    const { stub, counting, calls } = await session();
    // The link's clock moves with real time here: the slots expire on the session's clock.
    const { link, clock } = linkWith(counting, new IsolateShare());
    clock.offset = -300;
    for (let i = 0; i < 20; i++) await link.begin(READ);
    const before = await remaining(stub);
    clock.offset = 0;
    await link.begin(READ); // 1 admitted, 16 ahead
    await link.begin(READ); // 1 of them used
    expect(await remaining(stub)).toBe((before ?? 0) - 17);
    clock.offset = 300; // they expire; the next call asks the session and returns the 15 unused
    await link.begin(READ);
    expect(calls.begin).toBe(22);
    // 15 back; this call takes 1, and 2 ahead (the last period saw 2 calls).
    expect(await remaining(stub)).toBe((before ?? 0) - 17 + 15 - 1 - 2);
  });

  it("an isolate with light traffic asks the session for every call and gets nothing ahead", async () => {
    const { stub, counting, calls } = await session();
    const { link, clock } = linkWith(counting, new IsolateShare(), { still: true });
    const before = await remaining(stub);
    for (const offset of [-2000, -1400, -800, -200, 0]) {
      clock.offset = offset;
      await link.begin(READ);
    }
    expect(calls.begin).toBe(5);
    expect(await remaining(stub)).toBe((before ?? 0) - 5);
  });

  it("with slots ahead switched off, a busy isolate asks the session for every call and holds nothing", async () => {
    const { stub, counting, calls } = await session();
    const { link, clock } = linkWith(counting, new IsolateShare(), { slotsAhead: false });
    clock.offset = -300;
    for (let i = 0; i < 20; i++) await link.begin(READ);
    const before = await remaining(stub);
    clock.offset = 0;
    const permits = [];
    for (let i = 0; i < 17; i++) permits.push(await link.begin(READ));
    expect(calls.begin).toBe(37);
    for (const { permit, grant } of permits) {
      expect(permit).toEqual({ admitted: true, waitMs: 0, probe: false });
      expect(grant).toMatchObject({ kind: "token", accessToken: "token-1" });
    }
    // Each call took exactly its own slot: none were counted as taken ahead.
    expect(await remaining(stub)).toBe((before ?? 0) - 17);
  });

  it("with slots ahead switched off, success reports are still batched", async () => {
    const { counting, calls } = await session();
    const { link } = linkWith(counting, new IsolateShare(), { slotsAhead: false });
    await Promise.all(Array.from({ length: 10 }, () => link.report(ok(300))));
    expect(calls.record).toBe(1);
  });

  it("a failure, a refused token or a 429 drops the slots ahead", async () => {
    const { stub, counting, calls } = await session();
    const cases: Array<(link: SessionLink) => Promise<unknown> | unknown> = [
      (link) => link.report({ rateClass: "read", probe: false, health: "failure" }),
      (link) => link.invalidateToken("token-1"),
      (link) => link.report({ ...ok(0), retryAfterMs: 1000 }), // last: it holds calls off for 1 s
    ];
    for (const drop of cases) {
      const { link, clock } = linkWith(counting, new IsolateShare(), { still: true });
      clock.offset = -300;
      for (let i = 0; i < 8; i++) await link.begin(READ);
      clock.offset = 0;
      await link.begin(READ); // slots ahead granted
      const asked = calls.begin;
      await link.begin(READ);
      expect(calls.begin).toBe(asked); // served from a slot ahead
      await drop(link);
      const after = await link.begin(READ);
      expect(calls.begin).toBe(asked + 1);
      // The refused token is gone at the session too: this caller fetches the next one.
      if (after.grant?.kind === "lease") await stub.storeToken(after.grant.leaseId, "token-1", 3600);
    }
  });

  it("batches success reports, one batch call in flight, and every attempt is counted", async () => {
    const { stub, counting, calls } = await session();
    const { link } = linkWith(counting, new IsolateShare());
    const { counters } = await stub.status();
    const flushes = Array.from({ length: 50 }, () => link.report(ok(300)));
    await Promise.all(flushes);
    expect(calls.record).toBe(1); // the first waits BATCH_LINGER_MS, the 49 that came meanwhile join it
    expect((await stub.status()).counters.calls).toBe(counters.calls + 50);
  });

  it("a report that comes while a batch waits to be sent joins it; one after it was sent goes with the next", async () => {
    const { stub, counting, calls } = await session();
    const share = new IsolateShare();
    const link = new SessionLink(counting, share, { slotsAhead: true, batchLingerMs: 1000 });
    const { counters } = await stub.status();
    const first = link.report(ok(300));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(link.report(ok(299))).toBeUndefined(); // queued: the batch in its linger takes it
    expect(calls.record).toBe(0);
    await first;
    expect(calls.record).toBe(1);
    expect((await stub.status()).counters.calls).toBe(counters.calls + 2);
    // Without a linger, each report with nothing in flight is sent at once.
    const eager = new SessionLink(counting, new IsolateShare(), { slotsAhead: true, batchLingerMs: 0 });
    await eager.report(ok(298));
    expect(calls.record).toBe(2);
  });

  it("a failure, and a probe's success, are reported at once, not batched", async () => {
    const { stub, counting, calls } = await session();
    const { link } = linkWith(counting, new IsolateShare());
    const pending = link.report(ok(300)); // a batch waiting to be sent
    await link.report({ rateClass: "read", probe: false, health: "failure" });
    expect(calls.record).toBe(1);
    expect((await stub.status()).circuit.recentFailures).toBe(1);
    await link.report({ ...ok(300), probe: true });
    expect(calls.record).toBe(2);
    await pending;
    expect(calls.record).toBe(3);
  });
});
