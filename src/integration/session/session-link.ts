import { BATCH_LINGER_MS, type IsolateShare } from "./isolate-share.ts";
import {
  type AcmeSessionApi,
  type Admission,
  type AdmissionRequest,
  type AttemptReport,
  type BeginRequest,
  type BeginResult,
  isSetback,
  type RotatedRefreshToken,
  type TokenFailure,
  withAges,
} from "./protocol.ts";
import type { RequestTally } from "./request-tally.ts";

/** The AcmeSession methods a link calls (its Durable Object stub fits). */
export interface AcmeSessionRpc {
  begin(request: BeginRequest): Promise<BeginResult>;
  record(attempts: AttemptReport[], requests?: RequestTally[]): Promise<void> | void;
  storeToken(
    leaseId: string,
    accessToken: string,
    expiresInSeconds: number,
    refresh?: RotatedRefreshToken,
  ): Promise<boolean> | boolean;
  releaseLease(leaseId: string, failure?: TokenFailure): Promise<void> | void;
  invalidateToken(accessToken: string): Promise<void> | void;
  refuseGrant(
    leaseId: string,
    connectionId: string,
    presented: string | null,
    detail: string,
  ): Promise<void> | void;
}

/** How a link behaves: whether it takes slots ahead, and its clock. */
export interface SessionLinkOptions {
  /** Whether interactive calls take slots ahead (SESSION_SLOTS_AHEAD); off, each asks the session. */
  slotsAhead: boolean;
  /** Epoch ms; the session's clock is its own. */
  now?: () => number;
  /** How long a batch of success reports waits for more before it is sent, ms (default BATCH_LINGER_MS). */
  batchLingerMs?: number;
}

/**
 * The AcmeSessionApi for one request: the isolate's share of the session in front of the
 * session's Durable Object stub (a stub belongs to the request that made it; the share does not).
 */
export class SessionLink implements AcmeSessionApi {
  private readonly now: () => number;

  constructor(
    private readonly stub: AcmeSessionRpc,
    private readonly share: IsolateShare,
    private readonly options: SessionLinkOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async begin(request: AdmissionRequest): Promise<Admission> {
    if (!this.options.slotsAhead || request.priority !== "interactive") return this.stub.begin(request);
    const start = this.share.startCall(request.rateClass, this.now());
    if ("admission" in start) return start.admission;
    let result: BeginResult | null = null;
    try {
      result = await this.stub.begin({ ...request, ...start.ask });
      return { permit: result.permit, grant: result.grant };
    } finally {
      this.share.finishAsk(request.rateClass, start.ask, result, this.now());
    }
  }

  /**
   * A setback (failure or 429) drops the slots ahead and reaches the session now; so does a
   * probe's success, since it closes the circuit. Any other success joins the isolate's batch.
   */
  report(report: AttemptReport): Promise<void> | void {
    if (isSetback(report)) {
      this.share.drop();
      return this.stub.record(withAges([report], this.now()));
    }
    if (report.probe) return this.stub.record(withAges([report], this.now()));
    if (!this.share.queue(report, this.now())) return;
    return this.share.sendQueued(
      (batch) => this.stub.record(withAges(batch.attempts, this.now()), batch.requests),
      this.now(),
      this.options.batchLingerMs ?? BATCH_LINGER_MS,
    );
  }

  storeToken(leaseId: string, accessToken: string, expiresInSeconds: number, refresh?: RotatedRefreshToken) {
    return refresh
      ? this.stub.storeToken(leaseId, accessToken, expiresInSeconds, refresh)
      : this.stub.storeToken(leaseId, accessToken, expiresInSeconds);
  }

  releaseLease(leaseId: string, failure?: TokenFailure) {
    return this.stub.releaseLease(leaseId, failure);
  }

  invalidateToken(accessToken: string) {
    this.share.drop(accessToken);
    return this.stub.invalidateToken(accessToken);
  }

  refuseGrant(leaseId: string, connectionId: string, presented: string | null, detail: string) {
    this.share.drop();
    return this.stub.refuseGrant(leaseId, connectionId, presented, detail);
  }
}
