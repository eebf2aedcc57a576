import { DurableObject } from "cloudflare:workers";
import { ConcurrencyLimit } from "../../lib/concurrency-limit.ts";
import { errorFields, log } from "../../lib/logger.ts";
import {
  type AttemptResult,
  classifyAnswer,
  postSigned,
  type RetrySchedule,
  retryDelayMs,
  withinHorizon,
} from "../../lib/webhook-delivery.ts";
import { WORKER_MAX_OPEN_CONNECTIONS } from "../../lib/worker-limits.ts";
import { connectionData } from "../connection-data/stub.ts";
import { loadDestinationConfig } from "./config.ts";
import type { AttemptReport, ClaimedDelivery } from "./destination-store.ts";
import { deliveryBody } from "./payload.ts";

/** Deliveries one claim takes from the connection's object. */
export const CLAIM_SIZE = 60;
/** Attempts one alarm makes at most: with its claims and reports, far inside 1,000 subrequests. */
export const ATTEMPTS_PER_RUN = 300;
/** An alarm starts no attempt after this long (ms); what is left is claimed by the next one. */
export const RUN_DEADLINE_MS = 20_000;

/** What a courier's run uses from the outside: the network, the clock, randomness. */
export interface CourierDeps {
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  now: () => number;
  random: () => number;
  timeout?: (ms: number) => AbortSignal;
}

/**
 * What every courier's alarm runs with: the network, the clock and randomness of the runtime.
 * Tests of this isolate replace its members (a receiver handed in, injected time) and restore them.
 */
export const courierRuntime: CourierDeps = {
  fetch: (url, init) => fetch(url, init),
  now: () => Date.now(),
  random: () => Math.random(),
};

interface Target {
  connectionId: string;
  destinationId: string;
}

/** The name of a destination's courier: one per destination of a connection. */
export function courierName(connectionId: string, destinationId: string): string {
  return `${connectionId}/${destinationId}`;
}

/** The courier of a destination, as a stub for this request or invocation. */
export function courierOf(env: Env, connectionId: string, destinationId: string) {
  return env.DESTINATION_COURIER.get(
    env.DESTINATION_COURIER.idFromName(courierName(connectionId, destinationId)),
  );
}

/**
 * Delivers one destination's pending deliveries (one object per destination), so a slow or
 * failing receiver only ever holds up its own: its alarm claims due deliveries from the
 * connection's `ConnectionData` object (where their state lives, written with the feed), POSTs
 * each as a signed Standard Webhook with at most six in flight, each timeout starting with its
 * fetch, and reports back what happened; the connection's object decides the next attempt. It
 * keeps nothing but whom it serves and its alarm: a courier lost mid-run leaves leased
 * deliveries that fall due again when their lease ends.
 */
export class DestinationCourier extends DurableObject<Env> {
  /**
   * Sets the courier to work for this destination at `at` (epoch ms, default now), unless its
   * alarm is set sooner already.
   */
  async wake(connectionId: string, destinationId: string, at = Date.now()): Promise<void> {
    const target: Target = { connectionId, destinationId };
    this.ctx.storage.kv.put("target", target);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > at) await this.ctx.storage.setAlarm(at);
  }

  override async alarm(): Promise<void> {
    await this.run(courierRuntime);
  }

  /**
   * One run: claims and delivers until nothing is due, ATTEMPTS_PER_RUN attempts were made, or
   * RUN_DEADLINE_MS passed; then sets the alarm for what is due next. Returns the attempts made.
   */
  async run(deps: CourierDeps): Promise<number> {
    const target = this.ctx.storage.kv.get<Target>("target");
    if (!target) return 0;
    const config = loadDestinationConfig(this.env);
    const schedule: RetrySchedule = {
      baseMs: config.retryBaseMs,
      capMs: config.retryCapMs,
      horizonMs: config.retryHorizonMs,
      jitter: "full",
    };
    const data = connectionData(this.env, target.connectionId);
    const began = deps.now();
    const lanes = new ConcurrencyLimit(WORKER_MAX_OPEN_CONNECTIONS);
    let attempts = 0;
    let nextDue: number | null = null;
    for (;;) {
      const claim = await data.claimDeliveries(target.destinationId, CLAIM_SIZE, deps.now());
      if (!claim.destination || claim.deliveries.length === 0) {
        nextDue = claim.nextDue;
        break;
      }
      const { destination } = claim;
      const reports = await Promise.all(
        claim.deliveries.map((delivery) =>
          lanes.run(async (): Promise<AttemptReport> => {
            if (attempts >= ATTEMPTS_PER_RUN || deps.now() - began >= RUN_DEADLINE_MS) {
              return { deliveryId: delivery.id, outcome: null };
            }
            attempts += 1;
            return this.attempt(delivery, destination, schedule, config.timeoutMs, deps);
          }),
        ),
      );
      nextDue = await data.recordDeliveries(target.destinationId, reports, deps.now());
      if (reports.some((r) => r.outcome === null)) break;
    }
    if (nextDue !== null) await this.ctx.storage.setAlarm(Math.max(deps.now(), nextDue));
    return attempts;
  }

  private async attempt(
    delivery: ClaimedDelivery,
    destination: { url: string; secrets: string[] },
    schedule: RetrySchedule,
    timeoutMs: number,
    deps: CourierDeps,
  ): Promise<AttemptReport> {
    const attemptedAt = deps.now();
    if (!delivery.event) {
      return {
        deliveryId: delivery.id,
        outcome: {
          kind: "gone",
          status: null,
          excerpt: "",
          error: "The change was pruned from the feed before it could be delivered.",
          durationMs: 0,
          attemptedAt,
          nextAttemptAt: null,
        },
      };
    }
    let result: AttemptResult;
    try {
      result = await postSigned(deps.fetch, {
        url: destination.url,
        id: delivery.event.id,
        body: deliveryBody(delivery.event),
        secrets: destination.secrets,
        now: new Date(attemptedAt),
        timeoutMs,
        userAgent: "acme-bridge-destinations/1.0",
        ...(deps.timeout ? { timeout: deps.timeout } : {}),
      });
    } catch (error) {
      log("error", "destination attempt failed unexpectedly", {
        deliveryId: delivery.id,
        ...errorFields(error),
      });
      result = { status: null, retryAfter: null, excerpt: "", durationMs: 0, error: "could not connect" };
    }
    // The wait before a retry counts from the answer (or the timeout), not from the attempt's start:
    // a Retry-After's delay-seconds is "the number of seconds to delay after the response is
    // received" (RFC 9110 10.2.3), so a receiver that takes a while to say "429, come back in 2 s"
    // still gets its 2 s.
    const answeredAt = deps.now();
    const answer = classifyAnswer(result.status, result.retryAfter, answeredAt);
    let nextAttemptAt: number | null = null;
    if (answer.kind === "retry") {
      const at = answeredAt + retryDelayMs(schedule, delivery.attempts + 1, answer.retryAfterMs, deps.random);
      // Tried again while this attempt was made within the horizon, however long the wait (a
      // Retry-After past the horizon still gets its attempt): retries cover at least the horizon.
      nextAttemptAt = withinHorizon(schedule, delivery.firstAttemptAt ?? attemptedAt, attemptedAt)
        ? at
        : null;
    }
    return {
      deliveryId: delivery.id,
      outcome: {
        kind: answer.kind,
        status: result.status,
        excerpt: result.excerpt,
        error: result.error,
        durationMs: result.durationMs,
        attemptedAt,
        nextAttemptAt,
      },
    };
  }
}
