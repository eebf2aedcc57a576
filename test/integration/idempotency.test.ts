import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, IN_FLIGHT_LOCK_MS } from "../../src/integration/idempotency/idempotency-store.ts";
import { sha256Hex } from "../../src/lib/crypto.ts";
import { sqlIn } from "./connection-data-helpers.ts";
import {
  api,
  BASE,
  type Contact,
  contactsWithEmail,
  createContact,
  errorFields,
  expectProblem,
  newConnection,
  person,
  type TestConnection,
} from "./helpers.ts";

let a: TestConnection;

beforeAll(async () => {
  a = await newConnection();
});

const idempotencyKey = () => `idem-${crypto.randomUUID()}`;

function create(apiKey: string, body: unknown, idemKey?: string) {
  return api("/api/v1/contacts", {
    key: apiKey,
    method: "POST",
    body,
    ...(idemKey !== undefined ? { headers: { "idempotency-key": idemKey } } : {}),
  });
}

/** The hash the integration stores for a create with this body. */
const requestHash = (body: unknown) => sha256Hex(`contacts.create\n${canonicalJson(body)}`);

async function insertKey(
  connectionId: string,
  idemKey: string,
  body: unknown,
  row: { state: "in_flight" | "done"; lockedUntil: number; expiresAt?: number },
) {
  await sqlIn(
    connectionId,
    `INSERT INTO idempotency_keys (key, request_hash, state, locked_until, expires_at) VALUES (?, ?, ?, ?, ?)`,
    idemKey,
    await requestHash(body),
    row.state,
    row.lockedUntil,
    row.expiresAt ?? Date.now() + 3_600_000,
  );
}

describe("replaying a create", () => {
  it("the same key and body replay the first 201: same id, headers, Idempotent-Replayed, one contact at Acme", async () => {
    const idemKey = idempotencyKey();
    const input = person({ company: "Engines" });
    const first = await create(a.apiKey, input, idemKey);
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const created = await first.json<Contact>();

    const again = await create(a.apiKey, input, idemKey);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(created);
    expect(again.headers.get("location")).toBe(first.headers.get("location"));
    expect(again.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(again.headers.get("content-type")).toMatch(/^application\/json/);
    expect(again.headers.get("x-request-id")).toMatch(/\S/);
    expect(again.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"));

    const atAcme = await contactsWithEmail(a.apiKey, input.email);
    expect(atAcme.map((c) => c.id)).toEqual([created.id]);
  });

  it("without a key, the same body twice is a duplicate (409): the key is what makes retries safe", async () => {
    const input = person();
    expect((await create(a.apiKey, input)).status).toBe(201);
    await expectProblem(await create(a.apiKey, input), 409, "duplicate_email");
  });

  it("key order and whitespace in the body do not matter", async () => {
    const idemKey = idempotencyKey();
    const input = person({ title: "Countess" });
    const first = await create(a.apiKey, input, idemKey);
    expect(first.status).toBe(201);
    const { id } = await first.json<Contact>();
    const reordered = `{
      "title" : "Countess",
      "email": ${JSON.stringify(input.email)},   "lastName":"Lovelace",
      "firstName":   "Ada"
    }`;
    const again = await create(a.apiKey, reordered, idemKey);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await again.json<Contact>()).id).toBe(id);
  });

  it("the same key with another body is 422 idempotency_key_reused and creates nothing", async () => {
    const idemKey = idempotencyKey();
    expect((await create(a.apiKey, person(), idemKey)).status).toBe(201);
    const other = person();
    await expectProblem(await create(a.apiKey, other, idemKey), 422, "idempotency_key_reused");
    expect(await contactsWithEmail(a.apiKey, other.email)).toEqual([]);
  });

  it("a final 409 duplicate_email outcome is replayed too, even after the conflict is gone", async () => {
    const existing = await createContact(a.apiKey);
    const idemKey = idempotencyKey();
    const input = person({ email: existing.email });
    const first = await create(a.apiKey, input, idemKey);
    const firstProblem = await expectProblem(first, 409, "duplicate_email");

    // Were the request run again it would now succeed; the replay must give the recorded outcome.
    expect((await api(`/api/v1/contacts/${existing.id}`, { key: a.apiKey, method: "DELETE" })).status).toBe(
      204,
    );
    const again = await create(a.apiKey, input, idemKey);
    const replayed = await expectProblem(again, 409, "duplicate_email");
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(errorFields(replayed)).toEqual(errorFields(firstProblem));
    expect(replayed.detail).toBe(firstProblem.detail);
    expect(await contactsWithEmail(a.apiKey, input.email)).toEqual([]);
  });
});

/**
 * Makes the connection's object refuse to store the answer under this key (a trigger aborting the
 * statement that marks it done), as a failed write would; returns the function that lifts the fault.
 */
async function failStoringAnswer(connectionId: string, idemKey: string): Promise<() => Promise<void>> {
  const trigger = `fail_store_${crypto.randomUUID().replaceAll("-", "")}`;
  await sqlIn(
    connectionId,
    `CREATE TRIGGER ${trigger} BEFORE UPDATE ON idempotency_keys
     WHEN NEW.key = '${idemKey}' AND NEW.state = 'done'
     BEGIN SELECT RAISE(ABORT, 'injected store failure'); END`,
  );
  return async () => {
    await sqlIn(connectionId, `DROP TRIGGER IF EXISTS ${trigger}`);
  };
}

async function keyState(connectionId: string, idemKey: string) {
  const [row] = await sqlIn<{ state: string; response_status: number | null }>(
    connectionId,
    "SELECT state, response_status FROM idempotency_keys WHERE key = ?",
    idemKey,
  );
  return row ?? null;
}

describe("storing the answer fails", () => {
  it("the client still gets the 201, and the answer is stored after the response, then replayed", async () => {
    const idemKey = idempotencyKey();
    const input = person();
    const lift = await failStoringAnswer(a.connectionId, idemKey);
    let res: Response;
    try {
      res = await create(a.apiKey, input, idemKey);
      expect(res.status).toBe(201);
    } finally {
      await lift();
    }
    const created = await res.json<Contact>();
    expect(created.email).toBe(input.email);

    // The store is retried after the response: the key becomes done with the 201.
    await expect
      .poll(() => keyState(a.connectionId, idemKey), { timeout: 5000 })
      .toEqual({
        state: "done",
        response_status: 201,
      });
    const again = await create(a.apiKey, input, idemKey);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await again.json<Contact>()).id).toBe(created.id);
    expect((await contactsWithEmail(a.apiKey, input.email)).map((c) => c.id)).toEqual([created.id]);
  });

  it("a retry taking over the stale key of a create that landed gets that contact as the replayed 201", async () => {
    // The first attempt created the contact and died before storing its answer.
    const input = person({ company: "Analytical Engines" });
    const landed = await createContact(a.apiKey, input);
    const idemKey = idempotencyKey();
    await insertKey(a.connectionId, idemKey, input, { state: "in_flight", lockedUntil: Date.now() - 1 });

    const retry = await create(a.apiKey, input, idemKey);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("location")).toBe(`/api/v1/contacts/${landed.id}`);
    expect(retry.headers.get("etag")).toBe(`"${landed.version}"`);
    expect(await retry.json<Contact>()).toEqual(landed);
    expect(await keyState(a.connectionId, idemKey)).toEqual({ state: "done", response_status: 201 });

    const again = await create(a.apiKey, input, idemKey);
    expect(again.status).toBe(201);
    expect((await again.json<Contact>()).id).toBe(landed.id);
  });

  it("a taken-over key meeting someone else's contact (other fields) under the email stays 409 duplicate_email", async () => {
    const input = person({ company: "Analytical Engines" });
    await createContact(a.apiKey, { ...input, company: "Difference Engines" });
    const idemKey = idempotencyKey();
    await insertKey(a.connectionId, idemKey, input, { state: "in_flight", lockedUntil: Date.now() - 1 });

    const retry = await create(a.apiKey, input, idemKey);
    await expectProblem(retry, 409, "duplicate_email");
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
  });

  it("a fresh key (no takeover) meeting a duplicate stays 409 duplicate_email, even with the same fields", async () => {
    const input = person();
    await createContact(a.apiKey, input);
    await expectProblem(await create(a.apiKey, input, idempotencyKey()), 409, "duplicate_email");
  });
});

describe("keys in flight", () => {
  it("a key still in flight is 409 idempotency_key_in_flight with Retry-After, and creates nothing", async () => {
    const idemKey = idempotencyKey();
    const input = person();
    await insertKey(a.connectionId, idemKey, input, { state: "in_flight", lockedUntil: Date.now() + 60_000 });
    const res = await create(a.apiKey, input, idemKey);
    await expectProblem(res, 409, "idempotency_key_in_flight");
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(await contactsWithEmail(a.apiKey, input.email)).toEqual([]);
  });

  it("another body under a key in flight is 422, not 409", async () => {
    const idemKey = idempotencyKey();
    await insertKey(a.connectionId, idemKey, person(), {
      state: "in_flight",
      lockedUntil: Date.now() + 60_000,
    });
    await expectProblem(await create(a.apiKey, person(), idemKey), 422, "idempotency_key_reused");
  });

  it("an expired in-flight lock is taken over: the create runs once and the key then replays", async () => {
    const idemKey = idempotencyKey();
    const input = person();
    await insertKey(a.connectionId, idemKey, input, { state: "in_flight", lockedUntil: Date.now() - 1 });
    const res = await create(a.apiKey, input, idemKey);
    expect(res.status).toBe(201);
    expect(res.headers.get("idempotent-replayed")).toBeNull();
    const { id } = await res.json<Contact>();

    const row = await keyState(a.connectionId, idemKey);
    expect(row).toEqual({ state: "done", response_status: 201 });
    const again = await create(a.apiKey, input, idemKey);
    expect((await again.json<Contact>()).id).toBe(id);
    expect((await contactsWithEmail(a.apiKey, input.email)).length).toBe(1);
  });

  it("a completed key whose retention has passed is forgotten: the same key runs a new request", async () => {
    const idemKey = idempotencyKey();
    const old = person();
    await insertKey(a.connectionId, idemKey, old, {
      state: "done",
      lockedUntil: Date.now() - IN_FLIGHT_LOCK_MS,
      expiresAt: Date.now() - 1,
    });
    const res = await create(a.apiKey, person(), idemKey);
    expect(res.status).toBe(201);
    expect(res.headers.get("idempotent-replayed")).toBeNull();
  });

  it("concurrent requests with one key create exactly one contact", async () => {
    const idemKey = idempotencyKey();
    const input = person();
    const responses = await Promise.all(Array.from({ length: 8 }, () => create(a.apiKey, input, idemKey)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    for (const res of responses.filter((r) => r.status === 409)) {
      await expectProblem(res, 409, "idempotency_key_in_flight");
    }
    const ids = new Set(
      await Promise.all(
        responses.filter((r) => r.status === 201).map(async (r) => (await r.json<Contact>()).id),
      ),
    );
    expect(ids.size).toBe(1);
    expect((await contactsWithEmail(a.apiKey, input.email)).length).toBe(1);
  });
});

/** The `pattern` the served document gives the create's Idempotency-Key, as a regex. */
async function documentedKeyPattern(): Promise<RegExp> {
  const doc = await (await SELF.fetch(`${BASE}/api/openapi.json`)).json<{
    paths: Record<string, { post: { parameters: { name: string; schema: { pattern?: string } }[] } }>;
  }>();
  const header = doc.paths["/api/v1/contacts"]?.post.parameters.find((p) => p.name === "idempotency-key");
  expect(header?.schema.pattern).toEqual(expect.any(String));
  return new RegExp(header?.schema.pattern ?? "", "u");
}

describe("key format and scope", () => {
  it("keys of 1 to 255 visible ASCII characters are accepted, and the document's pattern says so", async () => {
    const documented = await documentedKeyPattern();
    for (const idemKey of ["k", "x".repeat(255), "!~#$%&'*+-.^_`|"]) {
      expect((await create(a.apiKey, person(), idemKey)).status).toBe(201);
      expect(documented.test(idemKey), idemKey).toBe(true);
    }
  });

  it.each([
    ["300 characters", "k".repeat(300)],
    ["a space", "two words"],
    ["a tab", "tab\tinside"],
    ["empty", ""],
  ])("a key with %s is 400 naming Idempotency-Key and creates nothing", async (_label, idemKey) => {
    const input = person();
    const res = await create(a.apiKey, input, idemKey);
    const body = await expectProblem(res, 400, "validation_failed");
    expect(errorFields(body)).toEqual(["Idempotency-Key"]);
    expect(await contactsWithEmail(a.apiKey, input.email)).toEqual([]);
    expect((await documentedKeyPattern()).test(idemKey)).toBe(false);
  });

  it("keys are per connection: B using A's key and body creates its own contact", async () => {
    const b = await newConnection();
    const idemKey = idempotencyKey();
    const input = person();
    const fromA = await create(a.apiKey, input, idemKey);
    const fromB = await create(b.apiKey, input, idemKey);
    expect(fromA.status).toBe(201);
    expect(fromB.status).toBe(201);
    expect(fromB.headers.get("idempotent-replayed")).toBeNull();
    const [ca, cb] = [await fromA.json<Contact>(), await fromB.json<Contact>()];
    expect(cb.id).not.toBe(ca.id);
    expect((await contactsWithEmail(b.apiKey, input.email)).map((c) => c.id)).toEqual([cb.id]);
  });

  it("an invalid body under a malformed key is refused for its body: the route's own validation comes first", async () => {
    const body = await expectProblem(
      await create(a.apiKey, { firstName: "Ada" }, "two words"),
      400,
      "validation_failed",
    );
    expect(errorFields(body)).toEqual(["email", "lastName"]);
  });

  it("an invalid body is rejected before the key is recorded, so the key stays usable", async () => {
    const idemKey = idempotencyKey();
    await expectProblem(await create(a.apiKey, { firstName: "Ada" }, idemKey), 400, "validation_failed");
    expect((await create(a.apiKey, person(), idemKey)).status).toBe(201);
  });
});
