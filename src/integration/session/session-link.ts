// What a Worker isolate keeps between calls to a connection's AcmeSession, so a busy isolate does
// not pay a Durable Object round trip twice per Acme call:
// - slots ahead: while calls go freely, the session hands the isolate a few slots of the current
//   window with the token (counted in its budget as taken); calls use them locally until they
//   run out or expire (AHEAD_TTL_MS), and any failure, 429 or refused token drops them. Slots
//   that expire unused go back to the session with the isolate's next call to it;
// - success reports are batched: one report call in flight per connection and isolate, the
//   reports that arrive meanwhile go with the next one. Failures are reported at once.
// An idle isolate asks for nothing ahead, so light traffic sees each call admitted on its own.

import type { SessionApi } from "../acme-client/acme-client.ts";
import type { AheadSlots } from "../resilience/rate-budget.ts";
import type { AcmeRateClass, AttemptReport } from "../resilience/session-state.ts";
import { AHEAD_TTL_MS, type BeginInput, type BeginResult } from "./acme-session.ts";

/** The AcmeSession methods the link uses (its Durable Object stub fits): SessionApi's, wider. */
export interface SessionStub extends Omit<SessionApi, "begin" | "report"> {
  begin(input: BeginInput): Promise<BeginResult>;
  report(reports: AttemptReport | AttemptReport[]): Promise<void> | void;
}

/** A report call in flight longer than this is taken for lost. */
const STUCK_FLUSH_MS = 5_000;
/** Never more than this many slots ahead per isolate, connection and rate class. */
const MAX_AHEAD = 16;

interface Slots extends AheadSlots {
  accessToken: string;
  expiresAt: number;
}

/** One isolate's share of a connection's session. Plain data: it outlives the requests using it. */
export class LocalSession {
  private readonly slots = new Map<AcmeRateClass, Slots>();
  /** Rate classes with a call to the session in flight that asks for slots ahead. */
  readonly asking = new Set<AcmeRateClass>();
  /** Interactive calls begun in the current and the previous AHEAD_TTL_MS period. */
  private demand = { periodStart: 0, current: 0, previous: 0 };
  pending: AttemptReport[] = [];
  /** When the report call in flight started; null when none is. */
  flushingSince: number | null = null;

  /** A slot ahead for a call of this class, if one is left and still valid. */
  take(rateClass: AcmeRateClass, now: number): Slots | null {
    const slots = this.slots.get(rateClass);
    if (!slots || slots.count < 1 || now >= slots.until) return null;
    slots.count -= 1;
    return slots;
  }

  /** Slots of this class that expired unused, to give back to the session (once). */
  takeUnused(rateClass: AcmeRateClass, now: number): { window: number; count: number } | undefined {
    const slots = this.slots.get(rateClass);
    if (!slots || slots.count < 1 || now < slots.until) return undefined;
    this.slots.delete(rateClass);
    return { window: slots.window, count: slots.count };
  }

  /** New slots join those still held for the same window (both are counted as taken there). */
  keep(rateClass: AcmeRateClass, slots: Slots): void {
    const held = this.slots.get(rateClass);
    if (held && held.window === slots.window && held.count > 0) {
      slots.count += held.count;
      slots.until = Math.max(slots.until, held.until);
    }
    this.slots.set(rateClass, slots);
  }

  drop(accessToken?: string): void {
    for (const [rateClass, slots] of this.slots) {
      if (accessToken === undefined || slots.accessToken === accessToken) this.slots.delete(rateClass);
    }
  }

  /** Counts a call and says how many slots ahead the next period is likely to use. */
  noteCall(now: number): number {
    const elapsed = now - this.demand.periodStart;
    if (elapsed >= 2 * AHEAD_TTL_MS) this.demand = { periodStart: now, current: 0, previous: 0 };
    else if (elapsed >= AHEAD_TTL_MS)
      this.demand = { periodStart: now, current: 0, previous: this.demand.current };
    this.demand.current += 1;
    return Math.min(MAX_AHEAD, this.demand.previous);
  }
}

const MAX_CONNECTIONS = 1000;
const locals = new Map<string, LocalSession>();

/** This isolate's LocalSession for a connection (the oldest is forgotten past MAX_CONNECTIONS). */
export function localSessionFor(connectionId: string): LocalSession {
  let local = locals.get(connectionId);
  if (!local) {
    if (locals.size >= MAX_CONNECTIONS) locals.delete(locals.keys().next().value as string);
    local = new LocalSession();
    locals.set(connectionId, local);
  }
  return local;
}

/** The SessionApi for one request: the isolate's LocalSession in front of the session's stub. */
export class SessionLink implements SessionApi {
  constructor(
    private readonly stub: SessionStub,
    private readonly local: LocalSession,
    private readonly now: () => number = Date.now,
  ) {}

  async begin(input: BeginInput) {
    if (input.priority !== "interactive") return this.stub.begin(input);
    const now = this.now();
    const demand = this.local.noteCall(now);
    const slot = this.local.take(input.rateClass, now);
    if (slot) {
      return {
        permit: { admitted: true as const, waitMs: 0, probe: false },
        grant: { kind: "token" as const, accessToken: slot.accessToken, expiresAt: slot.expiresAt },
      };
    }
    // One call at a time asks for slots ahead: concurrent callers would each be handed a share.
    const ahead = this.local.asking.has(input.rateClass) ? 0 : demand;
    if (ahead > 0) this.local.asking.add(input.rateClass);
    const unused = this.local.takeUnused(input.rateClass, now);
    try {
      const result = await this.stub.begin({ ...input, ahead, ...(unused ? { unused } : {}) });
      if (result.ahead && result.grant?.kind === "token") {
        this.local.keep(input.rateClass, {
          ...result.ahead,
          accessToken: result.grant.accessToken,
          expiresAt: result.grant.expiresAt,
        });
      }
      return { permit: result.permit, grant: result.grant };
    } finally {
      if (ahead > 0) this.local.asking.delete(input.rateClass);
    }
  }

  /**
   * A plain success joins the next batch. A failure or a 429 is reported now and drops the slots
   * ahead; a probe's success is reported now too, since it closes the circuit.
   */
  report(report: AttemptReport): Promise<void> | void {
    if (report.health !== "success" || report.retryAfterMs !== undefined) {
      this.local.drop();
      return this.stub.report(report);
    }
    if (report.probe) return this.stub.report(report);
    this.local.pending.push(report);
    const since = this.local.flushingSince;
    // A report call that never settled (its request was torn down) does not hold the rest back.
    if (since !== null && this.now() - since < STUCK_FLUSH_MS) return;
    return this.flush();
  }

  private async flush(): Promise<void> {
    const started = this.now();
    this.local.flushingSince = started;
    try {
      while (this.local.pending.length > 0) {
        const batch = this.local.pending;
        this.local.pending = [];
        await this.stub.report(batch);
      }
    } finally {
      if (this.local.flushingSince === started) this.local.flushingSince = null;
    }
  }

  storeToken(leaseId: string, accessToken: string, expiresInSeconds: number) {
    return this.stub.storeToken(leaseId, accessToken, expiresInSeconds);
  }

  releaseLease(leaseId: string) {
    return this.stub.releaseLease(leaseId);
  }

  invalidateToken(accessToken: string) {
    this.local.drop(accessToken);
    return this.stub.invalidateToken(accessToken);
  }
}
