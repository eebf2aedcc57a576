// The protocol between the Acme client and a connection's session: what the client asks before
// an attempt (begin: a permit and a token grant), what it tells afterwards (report), and how it
// hands a fetched token over. The AcmeSession Durable Object answers it for the whole fleet; a
// SessionLink answers it for one request, through the isolate's share of the session.

import type { Priority } from "../resilience/rate-budget.ts";
import type { RateObservation } from "../resilience/rate-limit-headers.ts";

/** Acme's rate classes the integration calls under (Acme also has token classes of its own). */
export const ACME_RATE_CLASSES = ["read", "write", "delete"] as const;
export type AcmeRateClass = (typeof ACME_RATE_CLASSES)[number];

/** What the client asks before an attempt. */
export interface AdmissionRequest {
  rateClass: AcmeRateClass;
  priority: Priority;
  /** The longest the caller can wait for a rate slot (ms) and still finish before its deadline. */
  maxWaitMs: number;
}

/**
 * The session's answer on whether an attempt may go: after `waitMs`, or refused for `retryAfterMs`.
 * `learning`: the session does not know Acme's quota yet and one call is out learning it; ask
 * again after `retryAfterMs` (not a refusal: the caller waits and asks again within its deadline).
 */
export type CallPermit =
  | { admitted: true; waitMs: number; probe: boolean }
  | {
      admitted: false;
      /** `needs_reauth`: Acme refused the connection's OAuth grant; no call goes until it is replaced. */
      reason: "rate_limited" | "circuit_open" | "learning" | "needs_reauth";
      retryAfterMs: number;
    };

/**
 * What the holder of an OAuth connection's lease refreshes with: the refresh token, sealed (AAD
 * `${connectionId}:refresh`), and how long the lease is its alone (ms from the grant's arrival).
 * Past `validMs` the session may hand the same refresh token to the next caller, so the holder
 * never presents it later than that.
 */
export interface RefreshLease {
  sealedToken: string;
  validMs: number;
}

/**
 * A usable access token (`expiresAt` epoch ms), or the lease to fetch one and store it; an OAuth
 * connection's lease carries the refresh token to fetch it with (the one and only holder of it).
 */
export type TokenGrant =
  | { kind: "token"; accessToken: string; expiresAt: number }
  | { kind: "lease"; leaseId: string; refresh?: RefreshLease };

/**
 * An OAuth lease holder's rotated refresh token: the sealed one it presented (`presented`, as the
 * lease carried it) and the sealed new one Acme issued (`next`). The session keeps `next` only
 * while it still holds `presented`, so a grant replaced meanwhile is never overwritten.
 */
export interface RotatedRefreshToken {
  presented: string;
  next: string;
}

/** Why a token exchange failed: the problem's code (`acme_auth_failed`, `acme_unavailable`...) and public detail. */
export interface TokenFailure {
  code: string;
  detail: string;
}

/** An admitted attempt comes with a grant; a refused one with none. */
export interface Admission {
  permit: CallPermit;
  grant: TokenGrant | null;
}

/** What one attempt at Acme says about Acme: its health, and its rate-limit figures. */
export interface AttemptReport {
  rateClass: AcmeRateClass;
  probe: boolean;
  /** success: Acme answered (anything but a 5xx); failure: 5xx, timeout or network error. */
  health: "success" | "failure";
  rate?: RateObservation;
  /** Set when Acme answered 429. */
  retryAfterMs?: number;
  /** When the answer arrived, epoch ms on the reporting isolate's clock (per-minute counters). */
  receivedAt?: number;
  /**
   * How long before the report was sent the answer arrived, ms, as the isolate measured it (set
   * when it sends). Acme's reset figures count from the answer, so the budget dates them by this
   * duration on its own clock: a duration means the same on both machines, a time of day does not.
   */
  ageMs?: number;
  /** How long the attempt took from sending to the answer, ms (Acme's figures date from within it). */
  roundTripMs?: number;
  retried?: boolean;
}

/**
 * A failure or a 429: the session may decide differently because of it (the circuit may open,
 * the rate class is held off), so it must reach the session before the call decides what next.
 */
export function isSetback(report: AttemptReport): boolean {
  return report.health === "failure" || report.retryAfterMs !== undefined;
}

/**
 * What the Acme client needs from the connection's session, one method per step of an attempt.
 * `report` tells the session what an attempt learned: a setback reaches it before the returned
 * promise settles; other reports may travel with the isolate's next batch, and the promise then
 * covers only the sending this call started, if any.
 */
export interface AcmeSessionApi {
  begin(request: AdmissionRequest): Promise<Admission>;
  report(report: AttemptReport): Promise<void> | void;
  /**
   * The holder of `leaseId` fetched a token valid for `expiresInSeconds` (an OAuth connection's
   * with the rotated refresh token, stored before the answer comes back). Answers false when the
   * session refused it (the connection's grant was replaced or refused meanwhile).
   */
  storeToken(
    leaseId: string,
    accessToken: string,
    expiresInSeconds: number,
    refresh?: RotatedRefreshToken,
  ): Promise<boolean> | boolean;
  /**
   * The holder of `leaseId` could not fetch a token; the next caller takes the lease. `failure`
   * says why (the problem's code and public detail), so the session can show it.
   */
  releaseLease(leaseId: string, failure?: TokenFailure): Promise<void> | void;
  /** Acme refused `accessToken` (401): the next caller fetches a new one. */
  invalidateToken(accessToken: string): Promise<void> | void;
  /**
   * Acme refused the OAuth grant the holder of `leaseId` presented (invalid_grant), or there is
   * none to present: the connection needs reauthorization, and calls are refused until a new
   * grant is installed. `presented` is the sealed refresh token the lease carried (null: none).
   */
  refuseGrant(
    leaseId: string,
    connectionId: string,
    presented: string | null,
    detail: string,
  ): Promise<void> | void;
}

// Slots ahead: a busy isolate takes a few slots of the current window with its token and admits
// calls from them without asking the session (see SessionLink). Two invariants hold them in check:
// - the quota holds across isolates: the session counts slots ahead as taken when it hands them
//   out, and unused ones come back only into the window they were taken from;
// - slots never outlive their window: they are usable for AHEAD_TTL_MS at most, and never past a
//   margin before the window's estimated end (RateBudget.reserveAhead). They travel as a duration
//   (`validMs`), so the isolate's clock running apart from the session's does not stretch them.

/** How long slots handed out ahead stay usable (ms). */
export const AHEAD_TTL_MS = 250;

/** Slots handed out ahead that expired unused, given back with the isolate's next begin. */
export interface UnusedSlots {
  window: number;
  count: number;
}

/** An isolate's begin: the admission request, plus slots ahead it would use and slots it gives back. */
export interface BeginRequest extends AdmissionRequest {
  /** Extra slots of the current window the isolate would use within AHEAD_TTL_MS. */
  ahead?: number;
  unused?: UnusedSlots;
}

/** Slots ahead as they travel to the isolate: usable for `validMs` from their arrival. */
export interface AheadGrant {
  count: number;
  validMs: number;
  window: number;
}

/** The session's answer to an isolate's begin: slots ahead come only with a token to use them with. */
export interface BeginResult extends Admission {
  ahead?: AheadGrant;
}

/** Reports as they leave the isolate at `now` (epoch ms, its clock): each dated by its age. */
export function withAges(reports: AttemptReport[], now: number): AttemptReport[] {
  return reports.map((report) =>
    report.receivedAt === undefined ? report : { ...report, ageMs: Math.max(0, now - report.receivedAt) },
  );
}
