import { parseRetryAfter } from "../../lib/backoff.ts";
import { SealedSecretError, type SecretKeyRing } from "../../lib/secret-box.ts";
import { type OAuthAppCredentials, requireOAuthApp } from "../config.ts";
import { refreshTokenContext } from "../connections/oauth-grant.ts";
import type { ConnectionRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import type { RequestStats } from "../request-stats.ts";
import type { Priority } from "../resilience/rate-budget.ts";
import { parseRateLimitHeaders } from "../resilience/rate-limit-headers.ts";
import { DEFAULT_RETRY_POLICY, planRetry, type RetryPolicy } from "../resilience/retry-policy.ts";
import {
  type AcmeRateClass,
  type AcmeSessionApi,
  type Admission,
  type AttemptReport,
  isSetback,
  type TokenGrant,
} from "../session/protocol.ts";
import { callProblem, needsReauthProblem } from "./acme-errors.ts";
import { refreshAccessToken, requestAccessToken } from "./token-exchange.ts";
import {
  type AcmeResponse,
  type AcmeTransport,
  type ExchangeOutcome,
  timedExchange,
  transportFor,
} from "./transport.ts";

/** A call to Acme's API: `path` below the base URL, a JSON `body` if any. */
export interface AcmeRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * After a write failed in a way that leaves its effect unknown (timeout, 5xx, lost connection),
 * the caller looks at Acme: the write happened (here is the response to return), or it did not
 * (retry, possibly with a different request such as one carrying If-Match).
 */
export type Verdict = { applied: AcmeResponse } | { retry: AcmeRequest };
export type Verify = (context: { deadline: number }) => Promise<Verdict>;

/** How one call goes: its rate class (from the method by default), priority, deadline, verify. */
export interface SendOptions {
  rateClass?: AcmeRateClass;
  priority?: Priority;
  /** Absolute time by which the call must be over, waits and retries included. */
  deadline?: number;
  /** Makes a non-GET call retryable after an ambiguous failure. */
  verify?: Verify;
}

/** Time and randomness for the client: injected so tests run retries in virtual time. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** One connection's client: its session, transport, secrets, timeouts and the request's stats. */
export interface AcmeClientOptions {
  connection: ConnectionRow;
  session: AcmeSessionApi;
  inProcess: AcmeTransport;
  defaultBaseUrl: string | undefined;
  /** Opens the connection's client secret for a token exchange; opens and seals its refresh tokens. */
  secretKeys: SecretKeyRing;
  /** The product's app at Acme, for an OAuth connection's refresh (unset: such a refresh fails, 500). */
  oauthApp?: OAuthAppCredentials | undefined;
  attemptTimeoutMs: number;
  deadlineMs: number;
  priority?: Priority;
  stats: RequestStats;
  clock?: Clock;
  retryPolicy?: RetryPolicy;
  /** Sent as X-Request-Id, so Acme's log lines can be matched to ours. */
  requestId?: string;
  /** Runs work after the response (ctx.waitUntil); without it, the work is awaited. */
  defer?: (work: Promise<unknown>) => void;
}

/** An attempt needs at least this long; with less time left, it is not started. */
const MIN_ATTEMPT_MS = 50;
/**
 * A refresh token is presented no later than this long before its lease ends by this isolate's
 * clock: the lease's time travels as a duration counted from its arrival here, later than the
 * session counts it from, by the trip back.
 */
const LEASE_MARGIN_MS = 1000;

/** An attempt's outcome: the exchange's, or the problem that kept it from getting a token. */
type Outcome = ExchangeOutcome | { kind: "token_failure"; error: ApiError };

function rateClassFor(method: AcmeRequest["method"]): AcmeRateClass {
  if (method === "GET") return "read";
  if (method === "DELETE") return "delete";
  return "write";
}

/**
 * The one way the integration talks to Acme for a connection. Every attempt is admitted by the
 * connection's AcmeSession (circuit breaker, throttle budget learned from Acme's rate-limit
 * headers), carries a token fetched single-flight, and has its own timeout. Failures that Acme
 * may recover from are retried with full jitter inside the call's deadline, and only here:
 * callers never retry. Writes are retried after an ambiguous failure only through `verify`.
 */
export class AcmeClient {
  private readonly baseUrl: string;
  private readonly transport: AcmeTransport;
  private readonly clock: Clock;
  private readonly policy: RetryPolicy;

  constructor(private readonly options: AcmeClientOptions) {
    const resolved = transportFor(
      options.connection.acmeBaseUrl ?? options.defaultBaseUrl,
      options.inProcess,
    );
    this.baseUrl = resolved.baseUrl;
    this.transport = resolved.transport;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.policy = options.retryPolicy ?? DEFAULT_RETRY_POLICY;
  }

  /** A deadline for a new call of this client's priority. */
  deadline(): number {
    return this.clock.now() + this.options.deadlineMs;
  }

  /**
   * Sends `request` and returns Acme's answer: any status below 500 except 429 (a 401 only once
   * a fresh token was refused too). Throws the caller's problem when the call is refused, or
   * when no retry is left or allowed (429, 503 or 504 with Retry-After).
   */
  async send(request: AcmeRequest, options: SendOptions = {}): Promise<AcmeResponse> {
    const { session, stats } = this.options;
    const rateClass = options.rateClass ?? rateClassFor(request.method);
    const priority = options.priority ?? this.options.priority ?? "interactive";
    const deadline = options.deadline ?? this.deadline();
    const isWrite = request.method !== "GET";
    let current = request;
    let reauthenticated = false;
    let unsure = false;

    for (let attempt = 0; ; attempt++) {
      if (unsure && options.verify) {
        const verdict = await options.verify({ deadline });
        if ("applied" in verdict) return verdict.applied;
        current = verdict.retry;
        unsure = false;
      }
      const { permit, grant } = await this.admission(rateClass, priority, deadline);
      const grantedAt = this.clock.now();
      if (!permit.admitted) throw callProblem(permit);
      if (permit.waitMs > 0) {
        stats.acmeWaitMs += permit.waitMs;
        await this.clock.sleep(permit.waitMs);
      }
      const timeoutMs = Math.max(
        MIN_ATTEMPT_MS,
        Math.min(this.options.attemptTimeoutMs, deadline - this.clock.now()),
      );
      const sentAt = this.clock.now();
      const outcome = await this.attempt(current, grant, timeoutMs, grantedAt);
      const report = this.report(outcome, rateClass, permit.probe, attempt > 0, sentAt);
      // A success teaches the session nothing urgent: tell it off the hot path. A setback may
      // decide the retry below (circuit, hold-off), so it is reported first.
      if (!isSetback(report) && this.options.defer) {
        this.options.defer(Promise.resolve(session.report(report)));
      } else {
        await session.report(report);
      }

      let retryAfterMs: number | null = null;
      if (outcome.kind === "response") {
        const { response } = outcome;
        if (response.status === 401 && !reauthenticated && grant?.kind === "token") {
          // The token was revoked or the signing key rotated: refresh once, retry once, at once.
          reauthenticated = true;
          await session.invalidateToken(grant.accessToken);
          continue;
        }
        if (response.status !== 429 && response.status < 500) return response;
        retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), this.clock.now());
        if (response.status >= 500) unsure = isWrite;
      } else if (outcome.kind === "token_failure") {
        if (outcome.error.code !== "acme_unavailable" && outcome.error.code !== "acme_rate_limited")
          throw outcome.error;
        retryAfterMs = parseRetryAfter(outcome.error.options.headers?.["Retry-After"], this.clock.now());
      } else {
        unsure = isWrite;
      }

      const giveUp = () => this.failure(outcome, retryAfterMs);
      if (unsure && !options.verify) throw giveUp();
      const decision = planRetry({
        attempt,
        retryAfterMs,
        now: this.clock.now(),
        deadline,
        minAttemptMs: MIN_ATTEMPT_MS,
        policy: this.policy,
        random: this.clock.random,
      });
      if (!decision.retry) throw giveUp();
      stats.acmeRetries += 1;
      stats.acmeWaitMs += decision.delayMs;
      await this.clock.sleep(decision.delayMs);
    }
  }

  /**
   * The session's admission for one attempt. While the session is learning Acme's quota from
   * another call, this one waits and asks again, as long as an attempt still fits its deadline.
   */
  private async admission(
    rateClass: AcmeRateClass,
    priority: Priority,
    deadline: number,
  ): Promise<Admission> {
    for (;;) {
      const remaining = deadline - this.clock.now();
      const admission = await this.options.session.begin({
        rateClass,
        priority,
        maxWaitMs: remaining - MIN_ATTEMPT_MS,
      });
      const { permit } = admission;
      if (permit.admitted || permit.reason !== "learning") return admission;
      if (remaining - permit.retryAfterMs < MIN_ATTEMPT_MS) return admission;
      this.options.stats.acmeWaitMs += permit.retryAfterMs;
      await this.clock.sleep(permit.retryAfterMs);
    }
  }

  private report(
    outcome: Outcome,
    rateClass: AcmeRateClass,
    probe: boolean,
    retried: boolean,
    sentAt: number,
  ): AttemptReport {
    const report: AttemptReport = { rateClass, probe, health: "failure", retried };
    if (outcome.kind === "token_failure") {
      report.health = outcome.error.code === "acme_unavailable" ? "failure" : "success";
      return report;
    }
    if (outcome.kind !== "response") return report;
    report.receivedAt = this.clock.now();
    report.roundTripMs = report.receivedAt - sentAt;
    const { status, headers } = outcome.response;
    report.health = status >= 500 ? "failure" : "success";
    const rate = parseRateLimitHeaders(headers);
    if (rate) report.rate = rate;
    if (status === 429)
      report.retryAfterMs = parseRetryAfter(headers.get("retry-after"), this.clock.now()) ?? 1000;
    return report;
  }

  /** The problem a caller gets when no retry is left or allowed. */
  private failure(outcome: Outcome, retryAfterMs: number | null): ApiError {
    if (outcome.kind === "token_failure") return outcome.error;
    if (outcome.kind === "timeout") return callProblem({ reason: "timeout", retryAfterMs });
    if (outcome.kind === "response" && outcome.response.status === 429) {
      return callProblem({ reason: "rate_limited", retryAfterMs });
    }
    return callProblem({ reason: "unavailable", retryAfterMs });
  }

  private async attempt(
    request: AcmeRequest,
    grant: TokenGrant | null,
    timeoutMs: number,
    grantedAt: number,
  ): Promise<Outcome> {
    let token: string;
    try {
      token = await this.token(grant, timeoutMs, grantedAt);
    } catch (error) {
      if (error instanceof ApiError) return { kind: "token_failure", error };
      throw error;
    }
    const url = new URL(`${this.baseUrl}${request.path}`);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const headers: Record<string, string> = { accept: "application/json", ...request.headers };
    headers.authorization = `Bearer ${token}`;
    if (this.options.requestId) headers["x-request-id"] = this.options.requestId;
    if (request.body !== undefined) headers["content-type"] = "application/json";
    return this.exchange(
      new Request(url, {
        method: request.method,
        headers,
        ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      }),
      timeoutMs,
    );
  }

  /** The grant's token, or one fetched under its lease and handed to the session. */
  private async token(grant: TokenGrant | null, timeoutMs: number, grantedAt: number): Promise<string> {
    if (grant?.kind === "token") return grant.accessToken;
    if (!grant) throw new ApiError("internal_error", "No token grant for an admitted call.");
    if (this.options.connection.method === "oauth") return this.refresh(grant, timeoutMs, grantedAt);
    try {
      const { accessToken, expiresIn } = await requestAccessToken({
        exchange: (request, ms) => this.exchange(request, ms),
        baseUrl: this.baseUrl,
        connection: this.options.connection,
        secretKeys: this.options.secretKeys,
        timeoutMs,
      });
      await this.options.session.storeToken(grant.leaseId, accessToken, expiresIn);
      return accessToken;
    } catch (error) {
      await this.options.session.releaseLease(
        grant.leaseId,
        error instanceof ApiError ? { code: error.code, detail: error.message } : undefined,
      );
      throw error;
    }
  }

  /**
   * An OAuth connection's refresh under the lease `grant`: the refresh token it carries is
   * presented once, within the lease; the rotated one is stored in the session, sealed, before
   * the new access token is returned (so before anyone uses it). invalid_grant (or no refresh
   * token to present) marks the connection needs_reauth and throws 502 connection_needs_reauth.
   * No answer or a 5xx releases the lease: the next holder presents the same token again (see
   * AcmeSession.acquireToken for why that is safe).
   */
  private async refresh(
    grant: Extract<TokenGrant, { kind: "lease" }>,
    timeoutMs: number,
    grantedAt: number,
  ): Promise<string> {
    const { connection, session, secretKeys } = this.options;
    const context = refreshTokenContext(connection.id);
    const presented = grant.refresh?.sealedToken ?? null;
    const refuse = async (detail: string) => {
      await session.refuseGrant(grant.leaseId, connection.id, presented, detail);
      return needsReauthProblem();
    };
    try {
      if (!grant.refresh) throw await refuse("The connection has no OAuth grant.");
      const app = requireOAuthApp({ oauthApp: this.options.oauthApp });
      const leaseLeftMs = grant.refresh.validMs - (this.clock.now() - grantedAt) - LEASE_MARGIN_MS;
      if (leaseLeftMs < MIN_ATTEMPT_MS)
        throw callProblem({ reason: "unavailable", retryAfterMs: null }, "token");
      let refreshToken: string;
      try {
        refreshToken = await secretKeys.open(grant.refresh.sealedToken, context);
      } catch (error) {
        if (!(error instanceof SealedSecretError)) throw error;
        // The grant is kept: an isolate with a wrong key ring must not end a connection that
        // isolates with the right one can still refresh; putting the key back recovers it.
        throw new ApiError(
          "internal_error",
          "No key of ENCRYPTION_KEYS opens this connection's refresh token; put back the key it was sealed with.",
        );
      }
      const outcome = await refreshAccessToken({
        exchange: (request, ms) => this.exchange(request, ms),
        baseUrl: this.baseUrl,
        app,
        refreshToken,
        timeoutMs: Math.min(timeoutMs, leaseLeftMs),
      });
      if (outcome.kind === "invalid_grant")
        throw await refuse("Acme refused the connection's OAuth grant (invalid_grant).");
      const { accessToken, expiresIn } = outcome.tokens;
      const next = await secretKeys.seal(outcome.tokens.refreshToken, context);
      const stored = await session.storeToken(grant.leaseId, accessToken, expiresIn, {
        presented: grant.refresh.sealedToken,
        next,
      });
      if (!stored) {
        // The grant was replaced or refused while this refresh ran: ask the session again.
        throw callProblem({ reason: "unavailable", retryAfterMs: null }, "token");
      }
      return accessToken;
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "connection_needs_reauth")) {
        await session.releaseLease(
          grant.leaseId,
          error instanceof ApiError ? { code: error.code, detail: error.message } : undefined,
        );
      }
      throw error;
    }
  }

  /** One timed exchange, counted as an attempt in the request's stats. */
  private exchange(request: Request, timeoutMs: number): Promise<ExchangeOutcome> {
    this.options.stats.acmeAttempts += 1;
    return timedExchange(this.transport, request, timeoutMs);
  }
}
