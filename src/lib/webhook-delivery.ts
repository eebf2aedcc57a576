import { Webhook } from "standardwebhooks";
import { parseRetryAfter } from "./backoff.ts";

// The one webhook delivery engine, as plain functions: Acme's subscriptions and the integration's
// destinations sign, send, judge an answer and schedule a retry with these, and keep only their
// own storage and routes. Time, randomness, fetch and timers come in as arguments.

/**
 * Standard Webhooks v1 headers for one attempt: `webhook-id` (`id`, the event's id, stable across
 * retries), `webhook-timestamp` (`now` in Unix seconds) and `webhook-signature`: one
 * `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret, in the order given,
 * space-separated (while a secret is rotated, receivers holding either one verify). Each secret
 * is a `whsec_` secret (the prefix is optional). Throws an Error when `secrets` is empty or a
 * secret's key is empty, and whatever base64 decoding throws for one that is not base64.
 */
export function signedHeaders(
  secrets: readonly string[],
  id: string,
  body: string,
  now: Date,
): Record<string, string> {
  if (secrets.length === 0) throw new Error("a webhook is signed with at least one secret");
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": secrets.map((secret) => new Webhook(secret).sign(id, now, body)).join(" "),
  };
}

/**
 * When retries come, as data. The delay after attempt n grows from `baseMs` (after the first)
 * doubling each time up to `capMs`, jittered:
 * - `"full"`: uniform in [0, ceiling], which spreads a burst of failures widest;
 * - `"equal"`: ceiling/2 plus uniform in [0, ceiling/2], so delays always grow.
 *
 * `horizonMs`: how long after the first attempt a retry may still be made (see
 * {@link withinHorizon}); `Infinity` where something else decides when to give up.
 */
export interface RetrySchedule {
  baseMs: number;
  capMs: number;
  horizonMs: number;
  jitter: "full" | "equal";
}

/** No retry comes sooner than this (ms), however small the schedule or the jitter draw. */
export const MIN_RETRY_DELAY_MS = 1000;

/**
 * Acme's webhook redeliveries: 2 s, 4 s, 8 s ... up to 10 min, equal jitter. Acme gives up when
 * its deliveries queue's `max_retries` (wrangler.toml) run out, so the horizon never stops it.
 */
export const ACME_WEBHOOK_SCHEDULE: Readonly<RetrySchedule> = Object.freeze({
  baseMs: 2000,
  capMs: 600_000,
  horizonMs: Number.POSITIVE_INFINITY,
  jitter: "equal",
});

/**
 * The integration's destinations, by default (DESTINATION_RETRY_* override it): 5 s doubling up
 * to 1 h, full jitter, tried again while each attempt is made within 25 h of the first, so retries
 * cover at least 24 hours.
 */
export const DESTINATION_SCHEDULE: Readonly<RetrySchedule> = Object.freeze({
  baseMs: 5000,
  capMs: 3_600_000,
  horizonMs: 25 * 3_600_000,
  jitter: "full",
});

/**
 * The delay (whole ms) before the next attempt, after `attempts` attempts so far (1 after the
 * first): min(capMs, baseMs * 2^(attempts - 1)) jittered as the schedule says, then raised to
 * `retryAfterMs` when given (the receiver asked for it; may exceed `capMs`) and to at least
 * {@link MIN_RETRY_DELAY_MS}. `random` returns a number in [0, 1) (Math.random). Never throws;
 * an `attempts` below 1 counts as 1.
 */
export function retryDelayMs(
  schedule: RetrySchedule,
  attempts: number,
  retryAfterMs: number | null,
  random: () => number,
): number {
  const ceiling = Math.min(schedule.capMs, schedule.baseMs * 2 ** Math.max(0, attempts - 1));
  const jittered = schedule.jitter === "full" ? random() * ceiling : ceiling / 2 + random() * (ceiling / 2);
  return Math.max(MIN_RETRY_DELAY_MS, Math.ceil(jittered), retryAfterMs ?? 0);
}

/**
 * Whether a retry at `nextAttemptAt` may still be made for a delivery first attempted at
 * `firstAttemptAt` (both epoch ms): nextAttemptAt - firstAttemptAt <= horizonMs. When it may
 * not, the delivery has run out of retries.
 */
export function withinHorizon(
  schedule: RetrySchedule,
  firstAttemptAt: number,
  nextAttemptAt: number,
): boolean {
  return nextAttemptAt - firstAttemptAt <= schedule.horizonMs;
}

/**
 * What a receiver's answer means: `delivered` (it took the event), `gone` (410: it wants no more,
 * its subscription or destination is disabled), or `retry`, with the wait it asked for in ms
 * (null when none).
 */
export type AnswerClass =
  | { kind: "delivered" }
  | { kind: "gone" }
  | { kind: "retry"; retryAfterMs: number | null };

/**
 * Classifies one attempt's answer: `status` (null when none came: a timeout or no connection),
 * its `Retry-After` header as received (null when absent) and `now` (epoch ms, for the HTTP-date
 * form). 2xx is delivered, 410 gone, anything else (3xx included: redirects are not followed) a
 * retry. `Retry-After`, in seconds or as an HTTP date (parseRetryAfter), counts on 429 and 503
 * only, the answers that define it as "come back later"; unreadable, it is ignored. Never throws.
 */
export function classifyAnswer(status: number | null, retryAfter: string | null, now: number): AnswerClass {
  if (status !== null && status >= 200 && status < 300) return { kind: "delivered" };
  if (status === 410) return { kind: "gone" };
  const asksToWait = status === 429 || status === 503;
  return { kind: "retry", retryAfterMs: asksToWait ? parseRetryAfter(retryAfter, now) : null };
}

/** The most of a receiver's answer an attempt keeps (bytes of its body, UTF-8). */
export const EXCERPT_MAX_BYTES = 1024;

/** What one attempt found. */
export interface AttemptResult {
  /** The answer's status; null when none came. */
  status: number | null;
  /** The answer's `Retry-After` header as sent; null when absent or no answer came. */
  retryAfter: string | null;
  /**
   * The start of the answer's body as text: at most its first {@link EXCERPT_MAX_BYTES} bytes,
   * decoded as UTF-8 without a character cut in half; "" when there was none or it failed.
   */
  excerpt: string;
  /** From the fetch's start until the answer and its excerpt were read (ms). */
  durationMs: number;
  /** Null when an answer came (whatever its status); else "timed out" or "could not connect". */
  error: string | null;
}

/** One signed POST, as {@link postSigned} sends it. */
export interface SignedPost {
  url: string;
  /** The event's id: `webhook-id`. */
  id: string;
  /** The JSON body, signed and sent as is. */
  body: string;
  /** The `whsec_` secrets to sign with, current first (see {@link signedHeaders}). */
  secrets: readonly string[];
  /** The signature's timestamp. */
  now: Date;
  /** How long the attempt may take, from its fetch's start to its excerpt read (ms). */
  timeoutMs: number;
  userAgent: string;
  /**
   * A signal that aborts `ms` from when it is made, with a TimeoutError (default
   * AbortSignal.timeout). Made as the fetch starts, so time spent before it (signing, waiting
   * for a connection slot) is not taken from the attempt.
   */
  timeout?: (ms: number) => AbortSignal;
}

/**
 * Sends `request.body` once to `request.url`: POST, `content-type: application/json`, the
 * request's `user-agent`, Standard Webhooks headers ({@link signedHeaders}), redirects not
 * followed (a 3xx is an answer like any other), aborted after `timeoutMs`. Keeps the answer's
 * status, `Retry-After` and an excerpt of its body, then lets the rest of the body go. A failed
 * fetch is a result (error "timed out" when the timeout aborted it, else "could not connect"),
 * never an exception; only signing throws (see {@link signedHeaders}), before anything is sent.
 */
export async function postSigned(
  fetch: (url: string, init: RequestInit) => Promise<Response>,
  request: SignedPost,
): Promise<AttemptResult> {
  const headers = {
    ...signedHeaders(request.secrets, request.id, request.body, request.now),
    "content-type": "application/json",
    "user-agent": request.userAgent,
  };
  const timeout = request.timeout ?? ((ms: number) => AbortSignal.timeout(ms));
  const started = Date.now();
  const signal = timeout(request.timeoutMs);
  try {
    const response = await fetch(request.url, {
      method: "POST",
      headers,
      body: request.body,
      redirect: "manual",
      signal,
    });
    const excerpt = await readExcerpt(response, signal);
    return {
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      excerpt,
      durationMs: Date.now() - started,
      error: null,
    };
  } catch (cause) {
    const timedOut = signal.aborted || (cause as { name?: unknown } | null)?.name === "TimeoutError";
    return {
      status: null,
      retryAfter: null,
      excerpt: "",
      durationMs: Date.now() - started,
      error: timedOut ? "timed out" : "could not connect",
    };
  }
}

/**
 * The first {@link EXCERPT_MAX_BYTES} bytes of `response`'s body as text, the rest cancelled. A
 * body that fails, or is still coming when `signal` aborts, gives what was read by then.
 */
async function readExcerpt(response: Response, signal: AbortSignal): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  const bytes = new Uint8Array(EXCERPT_MAX_BYTES);
  let length = 0;
  let ended = false;
  try {
    while (length < EXCERPT_MAX_BYTES && !signal.aborted) {
      const { done, value } = await reader.read();
      if (done) {
        // Done because `stop` cancelled it is not the body's end.
        ended = !signal.aborted;
        break;
      }
      const taken = value.subarray(0, EXCERPT_MAX_BYTES - length);
      bytes.set(taken, length);
      length += taken.byteLength;
    }
  } catch {
    // The body failed part-way: what came before is the excerpt.
  } finally {
    signal.removeEventListener("abort", stop);
    if (!ended) stop();
  }
  // Streaming mode holds back a character cut at the end instead of decoding it as U+FFFD.
  return new TextDecoder().decode(bytes.subarray(0, length), { stream: !ended });
}
