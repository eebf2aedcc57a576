import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import type { components, DeliveryAttempt, Destination, DestinationPayload } from "../../client/index.ts";
import { acmeAdmin, admin, base, sleep, until } from "./helpers.ts";
import { type OwnServer, useOwnServer } from "./own-server.ts";

// Destinations end to end: a connection's changes pushed by a real `wrangler dev` to receivers
// this test runs (node:http on 127.0.0.1, allowed because the local settings set
// DESTINATION_ALLOW_LOOPBACK). Every request a receiver gets has its signature checked with the
// Standard Webhooks reference library. The cases that need the default schedule run on the
// suite's shared server; a failure that must run out of retries, and a crash, run on a server of
// their own with a short retry schedule.

// ---------- a receiver ----------

type FeedEvent = components["schemas"]["ChangeEvent"];

/** What a receiver answers one request with: a status, headers, after a delay. */
interface Answer {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
}

/** One request as a receiver got it, on its clock (epoch ms). */
interface Received {
  id: string;
  arrivedAt: number;
  headers: Record<string, string>;
  body: string;
  /** The answer's status and when it went out; null while the receiver holds the request. */
  status: number | null;
  answeredAt: number | null;
}

/**
 * A real HTTP receiver: records every request, verifies its signature with the reference library
 * against `secret` (set once the destination is made; nothing is sent to it before), answers as
 * `answer` says.
 */
class Receiver {
  readonly requests: Received[] = [];
  /** Requests the reference library refused, and why. */
  readonly unverified: string[] = [];
  secret: string | null = null;
  answer: (request: Received) => Answer = () => ({ status: 200 });
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(port = 0): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((req, res) => receiver?.take(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (typeof address !== "object" || !address) throw new Error("receiver: no port");
    receiver = new Receiver(server, address.port);
    server.on("connection", (socket) => {
      receiver.sockets.add(socket);
      socket.once("close", () => receiver.sockets.delete(socket));
    });
    return receiver;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  private take(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
      }
      const request: Received = {
        id: headers["webhook-id"] ?? "",
        arrivedAt: Date.now(),
        headers,
        body: Buffer.concat(chunks).toString("utf8"),
        status: null,
        answeredAt: null,
      };
      this.requests.push(request);
      try {
        if (req.method !== "POST") throw new Error(`method ${req.method}`);
        if (this.secret === null) throw new Error("no secret yet");
        new Webhook(this.secret).verify(request.body, headers);
      } catch (error) {
        this.unverified.push(`${request.id}: ${error instanceof Error ? error.message : String(error)}`);
      }
      const answer = this.answer(request);
      const send = () => {
        request.status = answer.status;
        request.answeredAt = Date.now();
        res.writeHead(answer.status, { "content-type": "text/plain", ...answer.headers });
        res.end(`receiver answered ${answer.status}`);
      };
      if (!answer.delayMs) return send();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        send();
      }, answer.delayMs);
      this.timers.add(timer);
    });
  }

  /** Requests with this webhook-id. */
  of(id: string): Received[] {
    return this.requests.filter((r) => r.id === id);
  }

  /** The distinct webhook-ids it answered 2xx. */
  delivered(): Set<string> {
    return new Set(
      this.requests.filter((r) => r.status !== null && r.status < 300 && r.status >= 200).map((r) => r.id),
    );
  }

  /** The parsed body of a request. */
  static payload(request: Received): DestinationPayload {
    return JSON.parse(request.body) as DestinationPayload;
  }

  /** Stops listening and drops every connection, held requests too (their sender sees an error). */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------- the product, over HTTP ----------

/** A running product: where it is, how to call it (checked against its OpenAPI documents), its tokens. */
type Bridge = Pick<OwnServer, "url" | "fetch" | "acmeAdmin" | "admin">;

interface Connection {
  connectionId: string;
  apiKey: string;
  acmeClientId: string;
  acmeClientSecret: string;
}

function call(
  b: Bridge,
  path: string,
  token: string,
  init: { method?: string; body?: unknown } = {},
): Promise<Response> {
  return b.fetch(`${b.url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${token}`,
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

/** The response's JSON body, after checking its status (the body is in the message when it differs). */
async function expectJson<T>(res: Response, status: number, what: string): Promise<T> {
  const text = await res.text();
  expect(res.status, `${what}: ${text}`).toBe(status);
  return JSON.parse(text) as T;
}

/** An Acme account, a connection to it, an API key, and its subscription to Acme's webhooks. */
async function connect(b: Bridge, name: string): Promise<Connection> {
  const client = await expectJson<{ client_id: string; client_secret: string }>(
    await call(b, "/acme/admin/clients", b.acmeAdmin, { method: "POST", body: { name } }),
    201,
    "Acme client",
  );
  const { id } = await expectJson<{ id: string }>(
    await call(b, "/api/v1/admin/connections", b.admin, {
      method: "POST",
      body: { name, acmeClientId: client.client_id, acmeClientSecret: client.client_secret },
    }),
    201,
    "connection",
  );
  const { apiKey } = await expectJson<{ apiKey: string }>(
    await call(b, `/api/v1/admin/connections/${id}/api-keys`, b.admin, { method: "POST" }),
    201,
    "API key",
  );
  await expectJson(
    await call(b, `/api/v1/admin/connections/${id}/webhook-subscription`, b.admin, { method: "POST" }),
    201,
    "webhook subscription",
  );
  return {
    connectionId: id,
    apiKey,
    acmeClientId: client.client_id,
    acmeClientSecret: client.client_secret,
  };
}

async function createDestination(
  b: Bridge,
  connection: Connection,
  receiver: Receiver,
  path: string,
): Promise<Destination & { secret: string }> {
  const destination = await expectJson<Destination & { secret: string }>(
    await call(b, "/api/v1/destinations", connection.apiKey, {
      method: "POST",
      body: { url: receiver.url(path), description: `e2e ${path}` },
    }),
    201,
    "destination",
  );
  expect(destination).toMatchObject({
    url: receiver.url(path),
    status: "enabled",
    events: ["contact.created", "contact.updated", "contact.deleted"],
  });
  expect(destination.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  receiver.secret = destination.secret;
  return destination;
}

async function getDestination(b: Bridge, connection: Connection, id: string): Promise<Destination> {
  return expectJson<Destination>(
    await call(b, `/api/v1/destinations/${id}`, connection.apiKey),
    200,
    "destination",
  );
}

/** A contact created through the integration API (it reaches the feed through Acme's webhook). */
async function createContact(b: Bridge, connection: Connection, email: string): Promise<string> {
  const contact = await expectJson<{ id: string }>(
    await call(b, "/api/v1/contacts", connection.apiKey, {
      method: "POST",
      body: { firstName: "Dest", lastName: email.split("@")[0], email },
    }),
    201,
    "contact",
  );
  return contact.id;
}

/** A contact created directly at Acme, as another of the account's apps would. */
async function createAtAcme(b: Bridge, connection: Connection, email: string): Promise<string> {
  const token = await expectJson<{ access_token: string }>(
    await b.fetch(`${b.url}/acme/oauth/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${btoa(`${connection.acmeClientId}:${connection.acmeClientSecret}`)}`,
      },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    }),
    200,
    "Acme token",
  );
  const contact = await expectJson<{ id: string }>(
    await call(b, "/acme/v1/contacts", token.access_token, {
      method: "POST",
      body: { acme_first_name: "Direct", acme_last_name: "At Acme", acme_email: email },
    }),
    201,
    "Acme contact",
  );
  return contact.id;
}

/** The connection's whole change feed. */
async function feed(b: Bridge, connection: Connection): Promise<FeedEvent[]> {
  const events: FeedEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await expectJson<{ data: FeedEvent[]; nextAfter: number }>(
      await call(b, `/api/v1/events?after=${after}&limit=500`, connection.apiKey),
      200,
      "feed",
    );
    events.push(...page.data);
    if (page.data.length === 0) return events;
    after = page.nextAfter;
  }
}

/** The destination's attempts, newest first (every page). */
async function attempts(
  b: Bridge,
  connection: Connection,
  destinationId: string,
  status?: DeliveryAttempt["status"],
): Promise<DeliveryAttempt[]> {
  const all: DeliveryAttempt[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: "100" });
    if (status) query.set("status", status);
    if (cursor) query.set("cursor", cursor);
    const page: { data: DeliveryAttempt[]; nextCursor: string | null } = await expectJson(
      await call(b, `/api/v1/destinations/${destinationId}/deliveries?${query}`, connection.apiKey),
      200,
      "deliveries",
    );
    all.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** Feed entries of these contacts (matched by contact id and type), once all are there. */
async function entriesFor(
  b: Bridge,
  connection: Connection,
  contactIds: string[],
  type = "contact.created",
): Promise<FeedEvent[]> {
  let seen: FeedEvent[] = [];
  return until(
    async () => {
      seen = await feed(b, connection);
      const found = contactIds.map((id) => seen.find((e) => e.contact.id === id && e.type === type));
      return found.every((e) => e !== undefined) ? (found as FeedEvent[]) : undefined;
    },
    20_000,
    `the ${type} entries of ${contactIds.length} contact(s) in the feed`,
    () => `(feed: ${seen.map((e) => `${e.seq} ${e.type} ${e.contact.id}`).join(", ")})`,
  );
}

const describeReceived = (receiver: Receiver) =>
  `(received: ${receiver.requests.map((r) => `${r.id}→${r.status ?? "held"}`).join(", ")})`;

// ---------- per-test cleanup: destinations deleted (their couriers stop), receivers closed ----------

let cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  const pending = cleanups.reverse();
  cleanups = [];
  const failures: unknown[] = [];
  for (const cleanup of pending) {
    try {
      await cleanup();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
});

async function receiver(): Promise<Receiver> {
  const r = await Receiver.start();
  cleanups.push(() => r.close());
  return r;
}

async function destination(
  b: Bridge,
  connection: Connection,
  r: Receiver,
  path: string,
): Promise<Destination & { secret: string }> {
  const created = await createDestination(b, connection, r, path);
  // Registered after its receiver, so it is deleted before the receiver is closed.
  cleanups.push(async () => {
    const res = await call(b, `/api/v1/destinations/${created.id}`, connection.apiKey, { method: "DELETE" });
    expect([204, 404]).toContain(res.status);
  });
  return created;
}

// ---------- the suite's server: the default schedule (5 s doubling, full jitter, 25 h) ----------

const shared: Bridge = {
  url: base,
  // The suite's setup file checks every response of this server against its OpenAPI documents.
  fetch: (input, init) => fetch(input, init),
  acmeAdmin,
  admin,
};

describe("destinations on the suite's server", () => {
  it("a contact created at Acme and one created through the integration API reach the receiver: signed, data the feed entry, webhook-id its id", async () => {
    const b = shared;
    const connection = await connect(b, "dest-e2e-deliver");
    const r = await receiver();
    const dest = await destination(b, connection, r, "/deliver");
    const run = crypto.randomUUID().slice(0, 8);

    const atAcme = await createAtAcme(b, connection, `direct.${run}@example.com`);
    const viaApi = await createContact(b, connection, `api.${run}@example.com`);
    const entries = await entriesFor(b, connection, [atAcme, viaApi]);
    await until(
      () => (entries.every((e) => r.delivered().has(e.id)) ? true : undefined),
      15_000,
      "both changes at the receiver",
      () => describeReceived(r),
    );

    expect(r.unverified).toEqual([]);
    for (const entry of entries) {
      const [request, ...again] = r.of(entry.id);
      if (!request) throw new Error(`nothing for ${entry.id}`);
      expect(again, "a 200 is not sent again").toEqual([]);
      expect(request.headers["webhook-id"]).toBe(entry.id);
      expect(request.headers["content-type"]).toMatch(/^application\/json/);
      expect(request.headers["webhook-timestamp"]).toMatch(/^\d+$/);
      expect(Math.abs(Number(request.headers["webhook-timestamp"]) * 1000 - request.arrivedAt)).toBeLessThan(
        60_000,
      );
      const body = JSON.parse(request.body) as Record<string, unknown>;
      expect(Object.keys(body).toSorted()).toEqual(["data", "timestamp", "type"]);
      // `data` is the feed entry exactly as GET /api/v1/events serves it.
      expect(body).toEqual({ type: entry.type, timestamp: entry.occurredAt, data: entry });
      // The reference library hands back the same payload.
      expect(new Webhook(dest.secret).verify(request.body, request.headers)).toEqual(body);
    }
    // Every entry of the connection's feed went out, and nothing else.
    const all = await feed(b, connection);
    expect(new Set(r.requests.map((q) => q.id))).toEqual(new Set(all.map((e) => e.id)));
    expect(all.map((e) => e.contact.id).toSorted()).toEqual([atAcme, viaApi].toSorted());

    // The delivery log: one succeeded attempt each, answered 200.
    const log = await attempts(b, connection, dest.id);
    for (const entry of entries) {
      expect(log.filter((a) => a.eventId === entry.id)).toEqual([
        expect.objectContaining({
          seq: entry.seq,
          attempt: 1,
          status: "succeeded",
          responseStatus: 200,
          responseExcerpt: "receiver answered 200",
          nextAttemptAt: null,
        }),
      ]);
    }
  });

  it("a 429 with Retry-After: 2 gets the same webhook-id again no sooner than 2 s after its answer, then a 200 ends it succeeded", async () => {
    const b = shared;
    const connection = await connect(b, "dest-e2e-429");
    const r = await receiver();
    // The first request of each id: 429 after 1 s (a busy receiver answers slowly); the next, 200.
    r.answer = (request) =>
      r.of(request.id).length === 1
        ? { status: 429, headers: { "retry-after": "2" }, delayMs: 1000 }
        : { status: 200 };
    const dest = await destination(b, connection, r, "/busy");
    const run = crypto.randomUUID().slice(0, 8);
    const [entry] = await entriesFor(b, connection, [
      await createContact(b, connection, `busy.${run}@example.com`),
    ]);
    if (!entry) throw new Error("no entry");
    await until(
      () => (r.delivered().has(entry.id) ? true : undefined),
      20_000,
      "the delivery after the 429",
      () => describeReceived(r),
    );
    expect(r.unverified).toEqual([]);
    const [first, second, ...more] = r.of(entry.id);
    if (!first || !second) throw new Error("two requests expected");
    expect(more).toEqual([]);
    expect(first.status).toBe(429);
    expect(second.status).toBe(200);
    expect(second.body).toBe(first.body);
    // On the receiver's clock: no sooner than 2 s after the first came, nor after the 429 went out
    // (Retry-After counts from the answer, RFC 9110 10.2.3; this one took a second).
    expect(second.arrivedAt - first.arrivedAt).toBeGreaterThanOrEqual(2000);
    const afterAnswer = second.arrivedAt - (first.answeredAt ?? Number.NaN);
    expect(afterAnswer).toBeGreaterThanOrEqual(2000);

    const log = await attempts(b, connection, dest.id);
    expect(log).toEqual([
      expect.objectContaining({ eventId: entry.id, attempt: 2, status: "succeeded", responseStatus: 200 }),
      expect.objectContaining({ eventId: entry.id, attempt: 1, status: "pending", responseStatus: 429 }),
    ]);
    const [done, waited] = log as [DeliveryAttempt, DeliveryAttempt];
    expect(done.deliveryId).toBe(waited.deliveryId);
    expect(Date.parse(waited.nextAttemptAt ?? "") - Date.parse(waited.attemptedAt)).toBeGreaterThanOrEqual(
      2000,
    );
    expect(await attempts(b, connection, dest.id, "succeeded")).toEqual([done]);
    console.info(
      `429: second attempt ${second.arrivedAt - first.arrivedAt} ms after the first arrived, ${afterAnswer} ms after the 429 went out`,
    );
  });

  it("a 410 disables the destination (the reason names 410) and no further change is sent to it", async () => {
    const b = shared;
    const connection = await connect(b, "dest-e2e-410");
    const gone = await receiver();
    gone.answer = () => ({ status: 410 });
    const other = await receiver();
    const goneDest = await destination(b, connection, gone, "/gone");
    const otherDest = await destination(b, connection, other, "/still-here");
    const run = crypto.randomUUID().slice(0, 8);

    const [first] = await entriesFor(b, connection, [
      await createContact(b, connection, `gone1.${run}@example.com`),
    ]);
    if (!first) throw new Error("no entry");
    await until(
      () => (gone.of(first.id).length > 0 && other.delivered().has(first.id) ? true : undefined),
      15_000,
      "the first change at both receivers",
      () => describeReceived(gone),
    );
    const disabled = await until(
      async () => {
        const d = await getDestination(b, connection, goneDest.id);
        return d.status === "disabled" ? d : undefined;
      },
      10_000,
      "the destination disabled",
    );
    expect(disabled.disabledReason).toMatch(/410/);
    expect(await getDestination(b, connection, otherDest.id)).toMatchObject({
      status: "enabled",
      disabledReason: null,
    });
    expect(await attempts(b, connection, goneDest.id)).toEqual([
      expect.objectContaining({
        eventId: first.id,
        status: "failed",
        responseStatus: 410,
        nextAttemptAt: null,
      }),
    ]);

    // More changes: the other destination gets them, the disabled one nothing.
    const secondId = await createContact(b, connection, `gone2.${run}@example.com`);
    const patched = await call(b, `/api/v1/contacts/${first.contact.id}`, connection.apiKey, {
      method: "PATCH",
      body: { title: "Still here" },
    });
    expect(patched.status).toBe(200);
    await patched.body?.cancel();
    const [second] = await entriesFor(b, connection, [secondId]);
    const [update] = await entriesFor(b, connection, [first.contact.id], "contact.updated");
    if (!second || !update) throw new Error("no entries");
    await until(
      () => (other.delivered().has(second.id) && other.delivered().has(update.id) ? true : undefined),
      15_000,
      "the later changes at the enabled destination",
      () => describeReceived(other),
    );
    // A courier run that would still send to it has had time to.
    await sleep(1500);
    expect(gone.requests.map((q) => q.id)).toEqual([first.id]);
    expect((await attempts(b, connection, goneDest.id)).map((a) => a.eventId)).toEqual([first.id]);
    expect(await getDestination(b, connection, goneDest.id)).toMatchObject({ status: "disabled" });
    expect(gone.unverified).toEqual([]);
    expect(other.unverified).toEqual([]);
  });

  it("a receiver taking 9 s to answer holds up only its own destination: a burst of 10 reaches the other at once", async () => {
    const b = shared;
    const connection = await connect(b, "dest-e2e-slow");
    const slow = await receiver();
    slow.answer = () => ({ status: 200, delayMs: 9000 });
    const fast = await receiver();
    await destination(b, connection, slow, "/slow");
    await destination(b, connection, fast, "/fast");
    const run = crypto.randomUUID().slice(0, 8);

    const burstAt = Date.now();
    const ids = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createContact(b, connection, `burst${i}.${run}@example.com`)),
    );
    const acknowledgedAt = Date.now();
    const entries = await entriesFor(b, connection, ids);
    await until(
      () => (entries.every((e) => fast.delivered().has(e.id)) ? true : undefined),
      8000,
      "the burst at the fast receiver",
      () => describeReceived(fast),
    );
    // When the fast receiver had the last of the ten (its clock), and when the feed had them.
    const fastDoneAt = Math.max(...entries.map((e) => Math.min(...fast.of(e.id).map((q) => q.arrivedAt))));
    const recordedAt = Math.max(...entries.map((e) => Date.parse(e.recordedAt)));
    const slowAnsweredBy = slow.requests.filter((q) => q.answeredAt !== null && q.answeredAt <= fastDoneAt);
    const slowHeldBy = slow.requests.filter((q) => q.arrivedAt <= fastDoneAt);
    console.info(
      `slow receiver: burst of 10 acknowledged in ${acknowledgedAt - burstAt} ms; all in the feed ` +
        `${recordedAt - acknowledgedAt} ms later; all at the fast receiver ${fastDoneAt - acknowledgedAt} ms after ` +
        `the burst (${fastDoneAt - recordedAt} ms after the last was recorded); the slow one held ` +
        `${slowHeldBy.length} and had answered ${slowAnsweredBy.length} by then`,
    );
    expect(fastDoneAt - acknowledgedAt).toBeLessThan(3000);
    expect(slowHeldBy.length).toBeGreaterThan(0);
    expect(slowAnsweredBy).toEqual([]);
    expect(fast.requests).toHaveLength(10);
    expect(fast.unverified).toEqual([]);
    expect(slow.unverified).toEqual([]);
  });
});

// ---------- a server of its own: a short retry schedule, and a crash ----------

const RETRY_BASE_MS = 200;
const RETRY_CAP_MS = 1000;
/** Long enough that the crash case's deliveries are still pending at the kill (see there). */
const RETRY_HORIZON_S = 10;

describe("destinations on a server of their own: retries run out, and a crash", () => {
  const own = useOwnServer("destinations", {
    DESTINATION_RETRY_BASE_MS: String(RETRY_BASE_MS),
    DESTINATION_RETRY_CAP_MS: String(RETRY_CAP_MS),
    DESTINATION_RETRY_HORIZON_SECONDS: String(RETRY_HORIZON_S),
  });

  it("a receiver answering 500 until the retries run out leaves the delivery failed; recover sends it exactly once, and not what succeeded", async () => {
    const b = own();
    const connection = await connect(b, "dest-e2e-500");
    const r = await receiver();
    let failing = false;
    r.answer = () => ({ status: failing ? 500 : 200 });
    const dest = await destination(b, connection, r, "/failing");
    const run = crypto.randomUUID().slice(0, 8);
    const since = new Date(Date.now() - 1000).toISOString();

    // One change delivered while the receiver is well...
    const [ok] = await entriesFor(b, connection, [
      await createContact(b, connection, `ok.${run}@example.com`),
    ]);
    if (!ok) throw new Error("no entry");
    await until(() => (r.delivered().has(ok.id) ? true : undefined), 15_000, "the first change delivered");

    // ...then one it answers 500 until the retries run out.
    failing = true;
    const [bad] = await entriesFor(b, connection, [
      await createContact(b, connection, `bad.${run}@example.com`),
    ]);
    if (!bad) throw new Error("no entry");
    const failedAt = await until(
      async () => {
        const failed = await attempts(b, connection, dest.id, "failed");
        return failed.some((a) => a.eventId === bad.id) ? Date.now() : undefined;
      },
      (RETRY_HORIZON_S + 15) * 1000,
      "the delivery failed",
      () => describeReceived(r),
    );
    const log = (await attempts(b, connection, dest.id)).filter((a) => a.eventId === bad.id);
    const [last, ...earlier] = log;
    if (!last) throw new Error("no attempts");
    expect(last).toMatchObject({ status: "failed", responseStatus: 500, nextAttemptAt: null });
    expect(earlier.length).toBeGreaterThan(0);
    for (const a of earlier) expect(a).toMatchObject({ status: "pending", responseStatus: 500 });
    expect(log.map((a) => a.attempt)).toEqual(log.map((_, i) => log.length - i));
    // Retried while each attempt was made within the horizon after the first; the last one, made
    // past it (at most one capped delay and a little slack later), ended it.
    const firstAt = Date.parse(log[log.length - 1]?.attemptedAt ?? "");
    for (const a of earlier) {
      expect(Date.parse(a.attemptedAt) - firstAt).toBeLessThanOrEqual(RETRY_HORIZON_S * 1000);
    }
    expect(Date.parse(last.attemptedAt) - firstAt).toBeGreaterThan(RETRY_HORIZON_S * 1000);
    expect(Date.parse(last.attemptedAt) - firstAt).toBeLessThanOrEqual(
      RETRY_HORIZON_S * 1000 + RETRY_CAP_MS + 2000,
    );
    expect(r.of(bad.id)).toHaveLength(log.length);
    expect(r.of(bad.id).every((q) => q.status === 500)).toBe(true);
    // Nothing more comes once it failed.
    await sleep(2 * RETRY_CAP_MS);
    expect(r.of(bad.id)).toHaveLength(log.length);

    // The receiver is well again: recover sends what was not delivered, once.
    failing = false;
    const sentBefore = r.requests.length;
    const recovered = await expectJson<{ pending: number }>(
      await call(b, `/api/v1/destinations/${dest.id}/recover`, connection.apiKey, {
        method: "POST",
        body: { since },
      }),
      202,
      "recover",
    );
    expect(recovered).toEqual({ pending: 1 });
    await until(
      () => (r.delivered().has(bad.id) ? true : undefined),
      15_000,
      "the recovered delivery",
      () => describeReceived(r),
    );
    // Longer than a retry takes on this schedule: a second send would have come by now.
    await sleep(2 * RETRY_CAP_MS + 500);
    const afterRecover = r.requests.slice(sentBefore);
    expect(afterRecover.map((q) => [q.id, q.status])).toEqual([[bad.id, 200]]);
    expect(r.of(ok.id)).toHaveLength(1);
    const succeeded = await attempts(b, connection, dest.id, "succeeded");
    expect(succeeded.map((a) => a.eventId).toSorted()).toEqual([ok.id, bad.id].toSorted());
    expect(r.unverified).toEqual([]);
    console.info(
      `500: ${log.length} attempts over ${Date.parse(last.attemptedAt) - firstAt} ms, failed ${failedAt - firstAt} ms after the first; recovered once`,
    );
  }, 60_000);

  it("a crash with deliveries pending loses none: after the restart every event of the feed reaches the receiver", async () => {
    const b = own();
    const connection = await connect(b, "dest-e2e-crash");
    const r = await receiver();
    // Down for now: 503, come back in RETRY_AFTER_S (every retry waits exactly that: it is more
    // than the schedule's cap).
    const RETRY_AFTER_S = 3;
    let down = true;
    r.answer = () =>
      down ? { status: 503, headers: { "retry-after": String(RETRY_AFTER_S) } } : { status: 200 };
    const dest = await destination(b, connection, r, "/crash");
    const run = crypto.randomUUID().slice(0, 8);

    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await createContact(b, connection, `crash${i}.${run}@example.com`));
    const entries = await entriesFor(b, connection, ids);
    await until(
      () => (entries.every((e) => r.of(e.id).length > 0) ? true : undefined),
      15_000,
      "every change tried once",
      () => describeReceived(r),
    );
    expect(await attempts(b, connection, dest.id, "failed")).toEqual([]);
    expect(r.delivered().size).toBe(0);

    // Kill when no attempt is in the courier's hands: every request answered a moment ago (so its
    // outcome is recorded) and none due for a while (on the receiver's clock, each is due
    // RETRY_AFTER_S after its last answer at the earliest). The crash then leaves pending
    // deliveries due in seconds, not deliveries leased to a courier killed mid-run (those wait
    // out their lease, a minute, before they are due again).
    const killedAt = await until(
      () => {
        const now = Date.now();
        if (r.requests.some((q) => q.answeredAt === null)) return undefined;
        const lastAnswer = Math.max(...r.requests.map((q) => q.answeredAt ?? now));
        const nextDue = Math.min(
          ...entries.map((e) => (r.of(e.id).at(-1)?.answeredAt ?? now) + RETRY_AFTER_S * 1000),
        );
        return now - lastAnswer >= 250 && nextDue - now >= 500 ? now : undefined;
      },
      15_000,
      "a moment with no attempt in flight or due",
      () => describeReceived(r),
    );
    // Each delivery is still pending: its next attempt falls within the horizon after its first.
    for (const e of entries) {
      const sent = r.of(e.id);
      const nextDue = (sent.at(-1)?.answeredAt ?? 0) + RETRY_AFTER_S * 1000;
      expect(nextDue - (sent[0]?.arrivedAt ?? 0)).toBeLessThan(RETRY_HORIZON_S * 1000);
    }
    await own().kill();
    const beforeRestart = r.requests.length;

    // The receiver is well again before the server is back.
    down = false;
    await own().restart();
    const restartedAt = Date.now();
    const deliveredWhileStarting = r.delivered().size;

    const after = await feed(b, connection);
    expect(after.map((e) => e.id).toSorted()).toEqual(entries.map((e) => e.id).toSorted());
    await until(
      () => (after.every((e) => r.delivered().has(e.id)) ? true : undefined),
      // A delivery a killed courier held would be due again when its lease ends, in a minute.
      75_000,
      "every event of the feed delivered after the restart",
      () => describeReceived(r),
    );
    const deliveredAt = Date.now();
    const counts = after.map((e) => r.of(e.id).filter((q) => q.status === 200).length);
    expect(counts.every((n) => n >= 1)).toBe(true);
    const log = await attempts(b, connection, dest.id, "succeeded");
    expect(new Set(log.map((a) => a.eventId))).toEqual(new Set(after.map((e) => e.id)));
    expect(await attempts(b, connection, dest.id, "failed")).toEqual([]);
    expect(r.unverified).toEqual([]);
    console.info(
      `crash: ${after.length} events pending at the kill (${beforeRestart} attempts answered 503 before it); ` +
        `all delivered ${deliveredAt - restartedAt} ms after the restarted server was healthy ` +
        `(${restartedAt - killedAt} ms from the kill; ${deliveredWhileStarting} delivered before it answered /health); ` +
        `200s per event: ${counts.join(",")}`,
    );
  }, 180_000);
});
