// What a Worker isolate keeps between calls to a connection's AcmeSession, so a busy isolate does
// not pay a Durable Object round trip twice per Acme call:
// - slots ahead: while calls go freely, the session hands the isolate a few slots of the current
//   window with the token (counted in its budget as taken); calls use them here until they run
//   out or expire (AHEAD_TTL_MS), and any failure, 429 or refused token drops them. Slots that
//   expire unused go back to the session with the isolate's next call to it;
// - success reports are batched: one batch call in flight per connection and isolate, sent
//   BATCH_LINGER_MS after the first report it carries; the reports that arrive meanwhile go
//   with it or with the next one;
// - the integration's own requests are tallied per minute and ride along with the next batch
//   call; with no Acme call to ride on (cached reads), they go alone once REQUEST_FLUSH_MS old,
//   so a cached read costs no Durable Object call of its own.
// An idle isolate asks for nothing ahead, so light traffic sees each call admitted on its own.
// Plain data with no request's I/O in it: it outlives the requests that use it.

import type { AheadSlots } from "../resilience/rate-budget.ts";
import {
  type AcmeRateClass,
  type Admission,
  AHEAD_TTL_MS,
  type AttemptReport,
  type BeginResult,
  type UnusedSlots,
} from "./protocol.ts";
import { addSample, type RequestSample, type RequestTally } from "./request-tally.ts";

/** A batch call in flight longer than this is taken for lost (its request was torn down). */
const STUCK_SEND_MS = 5_000;
/** Never more than this many slots ahead per isolate, connection and rate class. */
const MAX_AHEAD = 16;
/** Request tallies with no batch call to ride along with are sent once the oldest is this old (ms). */
export const REQUEST_FLUSH_MS = 10_000;
/**
 * How long (ms) the call that is to send success reports waits first, so the reports of calls
 * finishing meanwhile go in the same session call: without it, a busy isolate sent nearly one
 * call per report (each ended before the next report came). Failures never wait.
 */
export const BATCH_LINGER_MS = 50;

/** What one batch call carries: attempt reports and request tallies (either may be empty). */
export interface SessionBatch {
  attempts: AttemptReport[];
  requests: RequestTally[];
}

/** Slots held ahead, with the token they were handed out with. */
interface HeldSlots extends AheadSlots {
  accessToken: string;
  expiresAt: number;
}

/** What a call that found no slot held ahead asks the session for besides its own admission. */
export interface SlotsAheadAsk {
  ahead: number;
  unused?: UnusedSlots;
}

/** One isolate's share of one connection's session: the slots it holds ahead and the reports it has yet to send. */
export class IsolateShare {
  private readonly slots = new Map<AcmeRateClass, HeldSlots>();
  /** Rate classes with a call to the session in flight that asks for slots ahead. */
  private readonly asking = new Set<AcmeRateClass>();
  /** Interactive calls begun in the current and the previous AHEAD_TTL_MS period. */
  private demand = { periodStart: 0, current: 0, previous: 0 };
  private pending: AttemptReport[] = [];
  private tallies = new Map<number, RequestTally>();
  /** When the oldest unsent request was tallied; null when none is. */
  private talliedSince: number | null = null;
  /** When the batch call in flight started; null when none is. */
  private sendingSince: number | null = null;

  /**
   * Starts an interactive call at `now` (epoch ms): admitted from a slot held ahead if one is
   * left and still valid, or else what to ask the session for along with its admission. A call
   * that asks for slots ahead must end with `finishAsk`.
   */
  startCall(rateClass: AcmeRateClass, now: number): { admission: Admission } | { ask: SlotsAheadAsk } {
    const demand = this.noteCall(now);
    const slots = this.take(rateClass, now);
    if (slots) {
      return {
        admission: {
          permit: { admitted: true, waitMs: 0, probe: false },
          grant: { kind: "token", accessToken: slots.accessToken, expiresAt: slots.expiresAt },
        },
      };
    }
    // One call at a time asks for slots ahead: concurrent callers would each be handed a share.
    const ahead = this.asking.has(rateClass) ? 0 : demand;
    if (ahead > 0) this.asking.add(rateClass);
    const unused = this.takeUnused(rateClass, now);
    return { ask: { ahead, ...(unused ? { unused } : {}) } };
  }

  /**
   * The session's answer to a call that asked (null if the call failed), arriving at `now` (epoch
   * ms, this isolate's clock): keeps the slots it granted, usable for their `validMs` from now.
   */
  finishAsk(rateClass: AcmeRateClass, ask: SlotsAheadAsk, result: BeginResult | null, now: number): void {
    if (result?.ahead && result.grant?.kind === "token") {
      this.keep(rateClass, {
        count: result.ahead.count,
        window: result.ahead.window,
        until: now + result.ahead.validMs,
        accessToken: result.grant.accessToken,
        expiresAt: result.grant.expiresAt,
      });
    }
    if (ask.ahead > 0) this.asking.delete(rateClass);
  }

  /** Forgets the slots held ahead: all of them, or those that came with `accessToken`. */
  drop(accessToken?: string): void {
    for (const [rateClass, slots] of this.slots) {
      if (accessToken === undefined || slots.accessToken === accessToken) this.slots.delete(rateClass);
    }
  }

  /**
   * Queues a report for the next batch; true when the caller is to send the queue now (no batch
   * call is in flight, or the one in flight is taken for lost).
   */
  queue(report: AttemptReport, now: number): boolean {
    this.pending.push(report);
    return this.idle(now);
  }

  /**
   * Tallies one of the integration's requests; true when the caller is to send the queue now (no
   * batch call is in flight and the oldest unsent tally is REQUEST_FLUSH_MS old).
   */
  tally(sample: RequestSample, now: number): boolean {
    addSample(this.tallies, sample);
    this.talliedSince ??= now;
    return this.idle(now) && now - this.talliedSince >= REQUEST_FLUSH_MS;
  }

  /**
   * Sends the queued reports and tallies, batch by batch until no report is left; reports queued
   * meanwhile go too, and tallies ride along. With `lingerMs`, waits that long (ms) before the
   * first batch, counting as a call in flight, so that reports arriving meanwhile join it. A
   * batch whose call fails is dropped (figures only).
   */
  async sendQueued(
    send: (batch: SessionBatch) => Promise<void> | void,
    now: number,
    lingerMs = 0,
  ): Promise<void> {
    this.sendingSince = now;
    try {
      if (lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, lingerMs));
      do {
        const batch = { attempts: this.pending, requests: [...this.tallies.values()] };
        this.pending = [];
        this.tallies = new Map();
        this.talliedSince = null;
        await send(batch);
      } while (this.pending.length > 0);
    } finally {
      if (this.sendingSince === now) this.sendingSince = null;
    }
  }

  /** Whether no batch call is in flight (or the one in flight is taken for lost). */
  private idle(now: number): boolean {
    return this.sendingSince === null || now - this.sendingSince >= STUCK_SEND_MS;
  }

  /** A slot ahead for a call of this class, if one is left and still valid. */
  private take(rateClass: AcmeRateClass, now: number): HeldSlots | null {
    const slots = this.slots.get(rateClass);
    if (!slots || slots.count < 1 || now >= slots.until) return null;
    slots.count -= 1;
    return slots;
  }

  /** Slots of this class that expired unused, to give back to the session (once). */
  private takeUnused(rateClass: AcmeRateClass, now: number): UnusedSlots | undefined {
    const slots = this.slots.get(rateClass);
    if (!slots || slots.count < 1 || now < slots.until) return undefined;
    this.slots.delete(rateClass);
    return { window: slots.window, count: slots.count };
  }

  /** New slots join those still held for the same window (both are counted as taken there). */
  private keep(rateClass: AcmeRateClass, slots: HeldSlots): void {
    const held = this.slots.get(rateClass);
    if (held && held.window === slots.window && held.count > 0) {
      slots.count += held.count;
      slots.until = Math.max(slots.until, held.until);
    }
    this.slots.set(rateClass, slots);
  }

  /** Counts a call and says how many slots ahead the next period is likely to use. */
  private noteCall(now: number): number {
    const elapsed = now - this.demand.periodStart;
    if (elapsed >= 2 * AHEAD_TTL_MS) this.demand = { periodStart: now, current: 0, previous: 0 };
    else if (elapsed >= AHEAD_TTL_MS)
      this.demand = { periodStart: now, current: 0, previous: this.demand.current };
    this.demand.current += 1;
    return Math.min(MAX_AHEAD, this.demand.previous);
  }
}

const MAX_CONNECTIONS = 1000;
const shares = new Map<string, IsolateShare>();

/** This isolate's share of a connection's session (the oldest is forgotten past MAX_CONNECTIONS). */
export function isolateShareFor(connectionId: string): IsolateShare {
  let share = shares.get(connectionId);
  if (!share) {
    if (shares.size >= MAX_CONNECTIONS) shares.delete(shares.keys().next().value as string);
    share = new IsolateShare();
    shares.set(connectionId, share);
  }
  return share;
}
