import type { RateObservation } from "./rate-limit-headers.ts";

// A per-class budget that mirrors Acme's fixed-window rate limit, learned from its `RateLimit`
// and `RateLimit-Policy` headers, so calls wait for a free slot (or are refused at once) instead
// of drawing a 429. Plain class: time comes in as arguments.
//
// Acme opens a window with the first call after the previous one closed. The budget tracks the
// current window and the next one only: a slot further ahead would be scheduled on a guess.

/** Interactive calls are a person waiting; background work (reconciliation) yields to them. */
export type Priority = "interactive" | "background";

/** Slots of one window handed out ahead, usable until `until` (epoch ms, the session's clock). */
export interface AheadSlots {
  count: number;
  until: number;
  /** Which window they belong to, for giving unused ones back. */
  window: number;
}

/**
 * A slot now or after `waitMs`, or none within the caller's wait: come back after `retryAfterMs`.
 * `learning`: Acme's quota is not known yet and one call is out learning it; ask again then.
 */
export type Admission =
  | { admitted: true; waitMs: number }
  | { admitted: false; retryAfterMs: number; learning?: true };

/**
 * Background work may fill at most this share of a window before its tail, so interactive calls
 * always have room.
 */
export const BACKGROUND_SHARE = 0.5;
/**
 * In a window's last this-many ms (at most half the window) background work may take whatever is
 * left: a slot unused at the window's end is lost, and an interactive call that then finds the
 * window full waits at most this long for the next one (whose first half background cannot
 * fill), inside the 3 s interactive deadline. So jobs can use the whole quota while interactive
 * calls keep room.
 */
export const BACKGROUND_TAIL_MS = 2000;
/** Calls scheduled for the next window go this long after the current one's estimated end. */
const SAFETY_MS = 20;
/** How far the window's first call goes ahead of the others scheduled into the same window. */
const OPENER_LEAD_MS = 50;
/** A call that comes back when told can wait this much less than this one could and still queue. */
const RETRY_MARGIN_MS = 100;
/**
 * Slots handed out ahead stop this long before the window's estimated end: the real end can come
 * up to a second earlier (Acme rounds its reset up to whole seconds), plus an answer's travel.
 */
const AHEAD_END_MARGIN_MS = 1500;
/** A window whose end is only guessed (not yet confirmed by Acme) is assumed this much longer. */
const GUESS_MARGIN_MS = 100;
/**
 * How late a call admitted now may still reach Acme (a busy isolate, the network), ms: a call
 * admitted this close to the window's earliest end may land in either window, so it counts in both.
 */
const STRADDLE_MARGIN_MS = 500;
/** While the first call is out learning Acme's quota, the others ask again this often (ms). */
export const LEARNING_POLL_MS = 100;
/**
 * How long a call learning Acme's quota holds the others back at most (ms), should its report
 * never come: another call then goes to learn it.
 */
const LEARNING_HOLD_MS = 10_000;

/**
 * When a refused call should come back: as soon as the same call would be queued for its slot
 * rather than refused, not when the slot opens. A client that honours Retry-After (in whole
 * seconds, rounded up) then waits here for the slot and goes the moment the window opens; sent
 * back until the slot itself, it would come back up to a second late and leave the quota unused.
 */
function retryWhenQueued(slotInMs: number, maxWaitMs: number): number {
  return Math.max(1, slotInMs - Math.max(0, maxWaitMs - RETRY_MARGIN_MS));
}

/** One rate class's budget in Acme's fixed windows (current and next); time comes in as `now`, epoch ms. */
export class RateBudget {
  private limit: number | null = null;
  private windowMs = 0;
  /** Estimated end of the current window; 0 when no window is open. */
  private windowEnd = 0;
  /**
   * The earliest the current window may really end, epoch ms: Acme's reset figure is rounded up
   * to whole seconds and was computed somewhere within the call's round trip. A call that reaches
   * Acme after this may count in the next window instead.
   */
  private windowEndEarliest = 0;
  /** Whether `windowEnd` comes from Acme's own figures (never earlier than the real end). */
  private anchored = false;
  /** Slots taken in the current window and in the next one. */
  private taken: [number, number] = [0, 0];
  /** Counts the windows `taken[0]` has been about, so slots given back land in their own. */
  private windowSeq = 0;
  /** When the first call scheduled into the next window goes; Infinity while none is. */
  private nextOpenerAt = Number.POSITIVE_INFINITY;
  private blockedUntil = 0;
  /** Until when the call learning Acme's quota holds the others back; 0 when none is out. */
  private learningUntil = 0;

  /** A slot for one call: in the current window now, in the next one within `maxWaitMs`, or none. */
  reserve(now: number, priority: Priority, maxWaitMs: number): Admission {
    this.advance(now);
    const blockedMs = Math.max(0, this.blockedUntil - now);
    if (this.limit === null) {
      // Nothing learned yet: one call goes to learn Acme's quota (unless Acme already said to
      // wait), the others ask again once its figures may be in. Letting a burst go unmeasured
      // would send every call past the quota into Acme's 429, however slow Acme is to answer.
      if (blockedMs > maxWaitMs)
        return { admitted: false, retryAfterMs: retryWhenQueued(blockedMs, maxWaitMs) };
      if (now < this.learningUntil)
        return { admitted: false, retryAfterMs: LEARNING_POLL_MS, learning: true };
      this.learningUntil = now + blockedMs + LEARNING_HOLD_MS;
      this.taken[0] += 1;
      return { admitted: true, waitMs: blockedMs };
    }
    const cap = this.cap(priority);
    if (this.windowEnd === 0) {
      // No window open that we know of: this call opens one when it reaches Acme.
      this.windowEnd = now + this.windowMs + GUESS_MARGIN_MS;
      this.windowEndEarliest = now + this.windowMs;
      this.anchored = false;
    }
    const tailStart = this.windowEnd - Math.min(BACKGROUND_TAIL_MS, this.windowMs / 2);
    const currentCap = priority === "background" && now >= tailStart ? this.limit : cap;
    if (blockedMs === 0 && this.taken[0] < currentCap) {
      if (now < this.windowEndEarliest - STRADDLE_MARGIN_MS) {
        this.taken[0] += 1;
        return { admitted: true, waitMs: 0 };
      }
      // It may reach Acme in this window or in the next one: counted in both, so neither is
      // overdrawn whichever it lands in.
      if (this.taken[1] < cap) {
        this.taken[0] += 1;
        this.taken[1] += 1;
        return { admitted: true, waitMs: 0 };
      }
    }
    if (priority === "background" && blockedMs === 0 && now < tailStart && this.taken[0] < this.limit) {
      // The window will have slots left at its tail: come back then rather than wait for the
      // next window. Not counted now, so interactive calls keep those slots until the tail.
      return { admitted: false, retryAfterMs: Math.max(1, Math.ceil(tailStart - now)) };
    }
    if (!this.anchored) {
      // The current window's end is only a guess until Acme's first answer in it: a call timed
      // for the next window on the guess would land too early if the window's first call reached
      // Acme late (a 429), or wait too long otherwise. Its answer is on its way: ask again then.
      return { admitted: false, retryAfterMs: LEARNING_POLL_MS, learning: true };
    }
    // The call that goes first into the next window opens it alone and the rest follow a moment
    // later, so its answer (whose reset figure anchors that window's end) is not held up behind
    // theirs. A call that can go earlier than the first one scheduled (the end estimate has
    // come down since) becomes the opener.
    const opensAt = Math.max(this.windowEnd + SAFETY_MS, this.blockedUntil);
    const opens = opensAt < this.nextOpenerAt;
    const waitMs = Math.max(
      0,
      (opens ? opensAt : Math.max(opensAt, this.nextOpenerAt + OPENER_LEAD_MS)) - now,
    );
    const nextHasRoom = this.taken[1] < cap;
    if (nextHasRoom && waitMs <= maxWaitMs) {
      this.taken[1] += 1;
      if (opens) this.nextOpenerAt = opensAt;
      return { admitted: true, waitMs };
    }
    // The slot this call could have: in the next window, or else in the one after it.
    const slotInMs = nextHasRoom ? waitMs : waitMs + this.windowMs + GUESS_MARGIN_MS;
    return { admitted: false, retryAfterMs: retryWhenQueued(slotInMs, maxWaitMs) };
  }

  /**
   * Slots of the current window handed out ahead of their calls, for a Worker isolate to use
   * without asking again: at most `wanted`, at most a quarter of what the window has left (the
   * rest stays for everyone else), and only until `now + ttlMs`.
   *
   * Invariants (the switch is SESSION_SLOTS_AHEAD):
   * - the quota holds across isolates: slots count as taken here when they are handed out, used
   *   or not, so no other caller is granted them; unused ones come back only through `giveBack`,
   *   and only into the window they were taken from;
   * - slots never outlive their window: `until` stops AHEAD_END_MARGIN_MS before the window's
   *   estimated end, where a call could reach Acme after the real end and count against the
   *   next window; none are handed out before the window's figures are known or while a 429
   *   holds the class off.
   */
  reserveAhead(now: number, priority: Priority, wanted: number, ttlMs: number): AheadSlots {
    this.advance(now);
    const none = { count: 0, until: now, window: this.windowSeq };
    if (this.limit === null || this.windowEnd === 0 || this.blockedUntil > now || wanted < 1) return none;
    const until = Math.min(
      now + ttlMs,
      this.windowEnd - AHEAD_END_MARGIN_MS,
      this.windowEndEarliest - STRADDLE_MARGIN_MS,
    );
    if (until <= now) return none;
    const cap = this.cap(priority);
    const count = Math.min(Math.floor(wanted), Math.floor((cap - this.taken[0]) / 4));
    if (count < 1) return none;
    this.taken[0] += count;
    return { count, until, window: this.windowSeq };
  }

  /**
   * Slots handed out ahead that went unused: free again, if their window is still the current one
   * (a later window counted them nowhere, so giving them back there would overdraw it).
   */
  giveBack(now: number, window: number, count: number): void {
    this.advance(now);
    if (window === this.windowSeq) this.taken[0] = Math.max(0, this.taken[0] - count);
  }

  /**
   * An attempt of this class ended without rate-limit figures (a failure, a timeout, an answer
   * without the headers): if it was out learning the quota, another call may go to learn it.
   */
  observeNoFigures(): void {
    this.learningUntil = 0;
  }

  /**
   * Learns from an Acme response's rate-limit headers, received at `now` after a round trip of
   * `roundTripMs` (Acme computed its figures somewhere within it).
   */
  observe(now: number, seen: RateObservation, roundTripMs = 0): void {
    this.advance(now);
    this.learningUntil = 0;
    this.limit = seen.limit;
    this.windowMs = seen.windowSeconds * 1000;
    // Acme rounds the reset up to whole seconds: this end is never earlier than the real one...
    const estimatedEnd = now + seen.resetSeconds * 1000;
    // ...and this one never later (the figure was computed no earlier than the call was sent).
    const earliestEnd = now - Math.max(0, roundTripMs) + (seen.resetSeconds - 1) * 1000;
    const usedAtAcme = seen.limit - seen.remaining;
    if (this.windowEnd === 0) {
      this.windowEnd = estimatedEnd;
      this.windowEndEarliest = earliestEnd;
      this.anchored = true;
      this.taken[0] = Math.max(this.taken[0], usedAtAcme);
      return;
    }
    // Which window the figures are about, from the interval each end is known to lie in: one that
    // must have ended before ours can end is an older window (a late answer); one that must end
    // after ours can is the next one. A guessed window has no such bounds: figures not about an
    // older window anchor it.
    if (estimatedEnd < this.windowEndEarliest) return;
    if (this.anchored && earliestEnd > this.windowEnd) {
      // Acme is already in the window we called "next": move along with it.
      this.windowEnd = estimatedEnd;
      this.windowEndEarliest = earliestEnd;
      this.taken = [Math.max(this.taken[1], usedAtAcme), 0];
      this.windowSeq += 1;
      this.nextOpenerAt = Number.POSITIVE_INFINITY;
      return;
    }
    this.windowEnd = this.anchored ? Math.min(this.windowEnd, estimatedEnd) : estimatedEnd;
    this.windowEndEarliest = this.anchored ? Math.max(this.windowEndEarliest, earliestEnd) : earliestEnd;
    this.anchored = true;
    this.taken[0] = Math.max(this.taken[0], usedAtAcme);
  }

  /**
   * Acme said 429 anyway: nothing goes before its Retry-After. Acme's word on when to come back
   * is taken as it is, rather than assuming the whole window is spent: a 429 may be a burst limit
   * that clears sooner than the quota window.
   */
  observeRejection(now: number, retryAfterMs: number): void {
    this.advance(now);
    this.blockedUntil = Math.max(this.blockedUntil, now + retryAfterMs);
  }

  /** What is known and what is left now, for the status page. */
  snapshot(now: number) {
    this.advance(now);
    return {
      limit: this.limit,
      windowSeconds: this.limit === null ? null : this.windowMs / 1000,
      remaining: this.limit === null ? null : Math.max(0, this.limit - this.taken[0]),
      scheduledNextWindow: this.taken[1],
      resetInMs: Math.max(0, this.windowEnd - now, this.blockedUntil - now),
    };
  }

  /** The most slots of a window (before its tail) calls of this priority may take. */
  private cap(priority: Priority): number {
    const limit = this.limit ?? 0;
    return priority === "interactive" ? limit : Math.max(1, Math.floor(limit * BACKGROUND_SHARE));
  }

  private advance(now: number): void {
    if (this.windowEnd === 0 || this.windowEnd > now) return;
    const opensAt = Number.isFinite(this.nextOpenerAt) ? this.nextOpenerAt : this.windowEnd + SAFETY_MS;
    if (this.taken[1] > 0 && opensAt + this.windowMs > now) {
      // Calls were scheduled into the next window: it opens with the first of them, and ends
      // about one window later (a guess, until Acme's figures anchor it).
      this.windowEnd = opensAt + this.windowMs + GUESS_MARGIN_MS;
      this.windowEndEarliest = opensAt + this.windowMs;
      this.taken = [this.taken[1], 0];
    } else {
      this.windowEnd = 0;
      this.windowEndEarliest = 0;
      this.taken = [0, 0];
    }
    this.nextOpenerAt = Number.POSITIVE_INFINITY;
    this.anchored = false;
    this.windowSeq += 1;
  }
}
