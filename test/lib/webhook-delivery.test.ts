import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  ACME_WEBHOOK_SCHEDULE,
  type AnswerClass,
  classifyAnswer,
  DESTINATION_SCHEDULE,
  EXCERPT_MAX_BYTES,
  MIN_RETRY_DELAY_MS,
  postSigned,
  type RetrySchedule,
  retryDelayMs,
  type SignedPost,
  signedHeaders,
  withinHorizon,
} from "../../src/lib/webhook-delivery.ts";
import { newWebhookSecret } from "../../src/lib/webhook-secret.ts";

const HOUR = 3_600_000;
const BODY = JSON.stringify({ type: "contact.created", data: { id: "ct_1", name: "Zoë" } });

describe("signedHeaders", () => {
  it("signs as Standard Webhooks v1: the reference library verifies the body with the secret", () => {
    const secret = newWebhookSecret();
    const now = new Date();
    const headers = signedHeaders([secret], "evt_1", BODY, now);
    expect(headers["webhook-id"]).toBe("evt_1");
    expect(headers["webhook-timestamp"]).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });

  it("signs with each of two secrets, space-separated, so either one alone verifies", () => {
    const [current, previous] = [newWebhookSecret(), newWebhookSecret()];
    const headers = signedHeaders([current, previous], "evt_2", BODY, new Date());
    const signatures = headers["webhook-signature"]?.split(" ") ?? [];
    expect(signatures).toHaveLength(2);
    expect(signatures.every((s) => s.startsWith("v1,"))).toBe(true);
    expect(new Webhook(current).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    expect(new Webhook(previous).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    expect(() => new Webhook(newWebhookSecret()).verify(BODY, headers)).toThrow(WebhookVerificationError);
  });

  it("signs the exact body, id and time: a changed one does not verify", () => {
    const secret = newWebhookSecret();
    const headers = signedHeaders([secret], "evt_3", BODY, new Date());
    const webhook = new Webhook(secret);
    expect(() => webhook.verify(BODY.replace("Zoë", "Zoe"), headers)).toThrow(WebhookVerificationError);
    expect(() => webhook.verify(BODY, { ...headers, "webhook-id": "evt_4" })).toThrow(
      WebhookVerificationError,
    );
    const later = String(Number(headers["webhook-timestamp"]) + 1);
    expect(() => webhook.verify(BODY, { ...headers, "webhook-timestamp": later })).toThrow(
      WebhookVerificationError,
    );
  });

  it("refuses to sign with no secret", () => {
    expect(() => signedHeaders([], "evt_5", BODY, new Date())).toThrow(/at least one secret/);
  });
});

/** Acme's redelivery delay (s) as the consumer computed it before the schedule moved to src/lib. */
function acmeDelaySecondsBefore(attempt: number, retryAfterMs: number | null, random: () => number): number {
  const ceiling = Math.min(600, 2 * 2 ** Math.max(0, attempt - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.min(43_200, Math.max(1, Math.ceil(jittered), Math.ceil((retryAfterMs ?? 0) / 1000)));
}

const ceilingAt = (schedule: RetrySchedule, attempts: number) =>
  Math.min(schedule.capMs, schedule.baseMs * 2 ** (attempts - 1));
const ATTEMPTS = Array.from({ length: 20 }, (_, i) => i + 1);

describe("retryDelayMs", () => {
  it.each([
    ["ACME_WEBHOOK_SCHEDULE (equal jitter)", ACME_WEBHOOK_SCHEDULE],
    ["DESTINATION_SCHEDULE (full jitter)", DESTINATION_SCHEDULE],
  ])("%s: attempts 1 to 20 stay between the jitter's floor and the ceiling, in whole ms", (_, schedule) => {
    for (const attempts of ATTEMPTS) {
      const ceiling = ceilingAt(schedule, attempts);
      const lowest = retryDelayMs(schedule, attempts, null, () => 0);
      const highest = retryDelayMs(schedule, attempts, null, () => 1);
      const floor = schedule.jitter === "full" ? 0 : ceiling / 2;
      expect(lowest, `attempt ${attempts}`).toBe(Math.max(MIN_RETRY_DELAY_MS, floor));
      expect(highest, `attempt ${attempts}`).toBe(ceiling);
      expect(highest).toBeLessThanOrEqual(schedule.capMs);
      for (let i = 0; i < 50; i++) {
        const delay = retryDelayMs(schedule, attempts, null, Math.random);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(lowest);
        expect(delay).toBeLessThanOrEqual(highest);
      }
    }
  });

  it("doubles from the base to the cap: Acme 2 s to 10 min, destinations 5 s to 1 h", () => {
    expect(ATTEMPTS.slice(0, 10).map((n) => retryDelayMs(ACME_WEBHOOK_SCHEDULE, n, null, () => 1))).toEqual([
      2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 600_000,
    ]);
    expect(ATTEMPTS.slice(0, 11).map((n) => retryDelayMs(DESTINATION_SCHEDULE, n, null, () => 1))).toEqual([
      5000,
      10_000,
      20_000,
      40_000,
      80_000,
      160_000,
      320_000,
      640_000,
      1_280_000,
      2_560_000,
      HOUR,
    ]);
  });

  it("reproduces Acme's redelivery delays exactly, in seconds", () => {
    const draws = [0, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.999_999, ...Array.from({ length: 200 }, Math.random)];
    for (const attempts of ATTEMPTS) {
      for (const draw of draws) {
        for (const retryAfterMs of [null, 0, 500, 1500, 90_000, 3_600_000]) {
          const ms = retryDelayMs(ACME_WEBHOOK_SCHEDULE, attempts, retryAfterMs, () => draw);
          expect(Math.ceil(ms / 1000), `attempt ${attempts}, draw ${draw}, ${retryAfterMs}`).toBe(
            acmeDelaySecondsBefore(attempts, retryAfterMs, () => draw),
          );
        }
      }
    }
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(ACME_WEBHOOK_SCHEDULE, n, null, () => 0))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000,
    ]);
  });

  it("waits at least the Retry-After, even past the cap, and a shorter one does not shorten the delay", () => {
    expect(retryDelayMs(DESTINATION_SCHEDULE, 1, 90_000, () => 0)).toBe(90_000);
    expect(retryDelayMs(DESTINATION_SCHEDULE, 20, 2 * HOUR, () => 1)).toBe(2 * HOUR);
    expect(retryDelayMs(ACME_WEBHOOK_SCHEDULE, 10, 1000, () => 1)).toBe(600_000);
    expect(retryDelayMs(DESTINATION_SCHEDULE, 3, 0, () => 0)).toBe(MIN_RETRY_DELAY_MS);
  });

  it("never waits less than a second, and counts an attempts below 1 as 1", () => {
    const tiny: RetrySchedule = { baseMs: 10, capMs: 100, horizonMs: HOUR, jitter: "full" };
    expect(retryDelayMs(tiny, 5, null, () => 1)).toBe(MIN_RETRY_DELAY_MS);
    expect(retryDelayMs(DESTINATION_SCHEDULE, 0, null, () => 1)).toBe(5000);
    expect(retryDelayMs(DESTINATION_SCHEDULE, -3, null, () => 1)).toBe(5000);
  });
});

describe("withinHorizon", () => {
  it("allows a destination's retry up to 25 hours after its first attempt, not a millisecond more", () => {
    const first = Date.parse("2026-03-01T00:00:00Z");
    expect(withinHorizon(DESTINATION_SCHEDULE, first, first + 25 * HOUR)).toBe(true);
    expect(withinHorizon(DESTINATION_SCHEDULE, first, first + 25 * HOUR + 1)).toBe(false);
  });

  it("never stops Acme, whose queue's max_retries decide", () => {
    expect(withinHorizon(ACME_WEBHOOK_SCHEDULE, 0, 365 * 24 * HOUR)).toBe(true);
  });

  it.each([
    ["the shortest draws", () => 0],
    ["middle draws", () => 0.5],
    ["the longest draws", () => 1],
    ["random draws", Math.random],
  ])("keeps a destination's retries going for at least 24 hours with %s", (_, random) => {
    let attempts = 1;
    let lastAttemptAt = 0;
    for (;;) {
      const next = lastAttemptAt + retryDelayMs(DESTINATION_SCHEDULE, attempts, null, random);
      if (!withinHorizon(DESTINATION_SCHEDULE, 0, next)) break;
      lastAttemptAt = next;
      attempts++;
    }
    expect(lastAttemptAt).toBeGreaterThan(24 * HOUR);
    expect(lastAttemptAt).toBeLessThanOrEqual(25 * HOUR);
  });
});

describe("classifyAnswer", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  const retry = (retryAfterMs: number | null): AnswerClass => ({ kind: "retry", retryAfterMs });

  it.each<[number | null, string | null, AnswerClass]>([
    [200, null, { kind: "delivered" }],
    [204, null, { kind: "delivered" }],
    [299, null, { kind: "delivered" }],
    [300, null, retry(null)],
    [301, "120", retry(null)],
    [400, null, retry(null)],
    [404, null, retry(null)],
    [410, null, { kind: "gone" }],
    [410, "120", { kind: "gone" }],
    [429, null, retry(null)],
    [429, "120", retry(120_000)],
    [429, "soon", retry(null)],
    [500, null, retry(null)],
    [500, "120", retry(null)],
    [503, "Sun, 01 Mar 2026 12:00:30 GMT", retry(30_000)],
    [503, "Sun, 01 Mar 2026 11:00:00 GMT", retry(0)],
    [null, null, retry(null)],
  ])("%s with Retry-After %j is %j", (status, retryAfter, expected) => {
    expect(classifyAnswer(status, retryAfter, now)).toEqual(expected);
  });
});

/** A fake receiver: records each request and answers with `answer`. */
function fakeFetch(answer: (init: RequestInit) => Response | Promise<Response>) {
  const requests: { url: string; init: RequestInit }[] = [];
  const fetch = async (url: string, init: RequestInit) => {
    requests.push({ url, init });
    return answer(init);
  };
  return { requests, fetch };
}

/** A body that arrives in the given chunks, then `end`s ("close", "error" or "stall"). */
function chunkedBody(chunks: Uint8Array[], end: "close" | "error" | "stall" = "close") {
  const state = { cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else if (end === "close") controller.close();
      else if (end === "error") controller.error(new Error("connection reset"));
      else return new Promise(() => {});
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { body, state };
}

const utf8 = (text: string) => new TextEncoder().encode(text);

function post(overrides: Partial<SignedPost> = {}): SignedPost {
  return {
    url: "https://app.example.com/hooks",
    id: "evt_post",
    body: BODY,
    secrets: [newWebhookSecret()],
    now: new Date(),
    timeoutMs: 10_000,
    userAgent: "Test-Webhooks/1.0",
    ...overrides,
  };
}

describe("postSigned", () => {
  it("POSTs the body once, signed, as JSON, with its user agent, not following redirects", async () => {
    const request = post();
    const { requests, fetch } = fakeFetch(() => new Response("ok", { status: 202 }));
    const result = await postSigned(fetch, request);
    expect(result).toMatchObject({ status: 202, retryAfter: null, excerpt: "ok", error: null });
    expect(requests).toHaveLength(1);
    const [{ url, init } = { url: "", init: {} }] = requests;
    expect(url).toBe(request.url);
    expect(init).toMatchObject({ method: "POST", body: BODY, redirect: "manual" });
    const headers = init.headers as Record<string, string>;
    expect(headers["content-type"]).toBe("application/json");
    expect(headers["user-agent"]).toBe("Test-Webhooks/1.0");
    expect(headers["webhook-id"]).toBe("evt_post");
    expect(new Webhook(request.secrets[0] ?? "").verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });

  it("keeps the answer's status and Retry-After as sent, a redirect included", async () => {
    const { fetch } = fakeFetch(
      () =>
        new Response(null, {
          status: 307,
          headers: { location: "https://elsewhere.example/", "retry-after": "7" },
        }),
    );
    expect(await postSigned(fetch, post())).toMatchObject({
      status: 307,
      retryAfter: "7",
      excerpt: "",
      error: null,
    });
  });

  it("makes the timeout as the fetch starts, and passes its signal to the fetch", async () => {
    const order: string[] = [];
    const signals: AbortSignal[] = [];
    const timeout = (ms: number) => {
      order.push(`timeout ${ms}`);
      const signal = new AbortController().signal;
      signals.push(signal);
      return signal;
    };
    const { fetch } = fakeFetch((init) => {
      order.push("fetch");
      expect(init.signal).toBe(signals[0]);
      return new Response(null, { status: 200 });
    });
    await postSigned(fetch, post({ timeout, timeoutMs: 1234 }));
    expect(order).toEqual(["timeout 1234", "fetch"]);
  });

  it("answers 'timed out' when its timeout aborts the fetch", async () => {
    const timer = new AbortController();
    const fetch = (_url: string, init: RequestInit) =>
      new Promise<Response>((_, reject) => {
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        timer.abort(new DOMException("The operation timed out.", "TimeoutError"));
      });
    const result = await postSigned(fetch, post({ timeout: () => timer.signal }));
    expect(result).toMatchObject({ status: null, retryAfter: null, excerpt: "", error: "timed out" });
  });

  it("answers 'timed out' for a TimeoutError, 'could not connect' for any other failure", async () => {
    const failing = (error: unknown) => async () => {
      throw error;
    };
    const timedOut = await postSigned(failing(new DOMException("timed out", "TimeoutError")), post());
    expect(timedOut).toMatchObject({ status: null, error: "timed out" });
    const refused = await postSigned(failing(new TypeError("Network connection lost.")), post());
    expect(refused).toMatchObject({ status: null, error: "could not connect" });
    expect(await postSigned(failing("not even an Error"), post())).toMatchObject({
      error: "could not connect",
    });
  });

  it("measures the attempt's duration", async () => {
    const { fetch } = fakeFetch(async () => {
      await scheduler.wait(50);
      return new Response(null, { status: 200 });
    });
    const result = await postSigned(fetch, post());
    expect(result.durationMs).toBeGreaterThanOrEqual(40);
    expect(result.durationMs).toBeLessThan(10_000);
  });

  it("throws before sending anything when it has no secret to sign with", async () => {
    const { requests, fetch } = fakeFetch(() => new Response(null));
    await expect(postSigned(fetch, post({ secrets: [] }))).rejects.toThrow(/at least one secret/);
    expect(requests).toHaveLength(0);
  });
});

describe("postSigned: the answer's excerpt", () => {
  const answering = (body: ReadableStream<Uint8Array> | string) =>
    fakeFetch(() => new Response(body, { status: 500 })).fetch;

  it.each([
    ["a 2-byte", "é"],
    ["a 3-byte", "€"],
    ["a 4-byte", "😀"],
  ])("keeps the first 1,024 bytes, dropping %s character cut at the limit", async (_, char) => {
    const before = "a".repeat(EXCERPT_MAX_BYTES - 1);
    const { excerpt } = await postSigned(answering(`${before}${char} and more`), post());
    expect(excerpt).toBe(before);
    expect(excerpt).not.toContain("\uFFFD");
  });

  it("keeps a character that ends exactly at the limit, and a shorter body whole", async () => {
    const full = `${"a".repeat(EXCERPT_MAX_BYTES - 2)}é`;
    expect((await postSigned(answering(`${full}tail`), post())).excerpt).toBe(full);
    expect((await postSigned(answering('{"error":"nope ✗"}'), post())).excerpt).toBe('{"error":"nope ✗"}');
  });

  it("reads a body that comes a byte at a time, and cancels the rest", async () => {
    const bytes = utf8(`${"€".repeat(400)}`);
    const { body, state } = chunkedBody(Array.from(bytes, (b) => Uint8Array.of(b)));
    const { excerpt } = await postSigned(answering(body), post());
    expect(excerpt).toBe("€".repeat(Math.floor(EXCERPT_MAX_BYTES / 3)));
    expect(state.cancelled).toBe(true);
  });

  it("keeps what came before a body that fails, without throwing", async () => {
    const { body } = chunkedBody([utf8("partial answer é"), utf8("€").subarray(0, 1)], "error");
    const result = await postSigned(answering(body), post());
    expect(result).toMatchObject({ status: 500, excerpt: "partial answer é", error: null });
  });

  it("stops reading a body that stalls when the timeout fires, keeping the status and what came", async () => {
    const timer = new AbortController();
    const { body, state } = chunkedBody([utf8("first words")], "stall");
    const fetch = async () => {
      setTimeout(() => timer.abort(new DOMException("The operation timed out.", "TimeoutError")), 20);
      return new Response(body, { status: 200 });
    };
    const result = await postSigned(fetch, post({ timeout: () => timer.signal }));
    expect(result).toMatchObject({ status: 200, excerpt: "first words", error: null });
    expect(state.cancelled).toBe(true);
  });
});
