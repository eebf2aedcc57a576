import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { createClient } from "../acme/helpers.ts";
import {
  admin,
  api,
  type Contact,
  connect,
  contactsWithEmail,
  createContact,
  expectProblem,
  newConnection,
  person,
  type TestConnection,
} from "./helpers.ts";

let a: TestConnection;
let b: TestConnection;

beforeAll(async () => {
  [a, b] = await Promise.all([newConnection(), newConnection()]);
});

async function list(key: string, query = ""): Promise<{ data: Contact[]; nextCursor: string | null }> {
  const res = await api(`/api/v1/contacts?limit=100${query}`, { key });
  expect(res.status).toBe(200);
  return res.json();
}

describe("connections cannot see each other's contacts", () => {
  it("by id: B's GET, PUT, PATCH and DELETE of A's contact are 404, and A's contact is untouched", async () => {
    const contact = await createContact(a.apiKey);
    const path = `/api/v1/contacts/${contact.id}`;
    for (const [method, body] of [
      ["GET", undefined],
      ["PUT", person()],
      ["PATCH", { firstName: "Mallory" }],
      ["DELETE", undefined],
    ] as const) {
      await expectProblem(await api(path, { key: b.apiKey, method, body }), 404, "not_found");
      await expectProblem(
        await api(path.replace("/v1", ""), { key: b.apiKey, method, body }),
        404,
        "not_found",
      );
    }
    const own = await api(path, { key: a.apiKey });
    expect(own.status).toBe(200);
    expect(await own.json()).toEqual(contact);
  });

  it("by list: B's pages never hold A's contacts, also when filtering by A's email", async () => {
    const ofA = await createContact(a.apiKey);
    const ofB = await createContact(b.apiKey);
    const pageA = await list(a.apiKey);
    const pageB = await list(b.apiKey);
    expect(pageA.data.map((c) => c.id)).toContain(ofA.id);
    expect(pageB.data.map((c) => c.id)).toContain(ofB.id);
    expect(pageB.data.map((c) => c.id)).not.toContain(ofA.id);
    expect(pageA.data.map((c) => c.id)).not.toContain(ofB.id);
    expect(await contactsWithEmail(b.apiKey, ofA.email)).toEqual([]);
  });

  it("by cursor: A's cursor used by B pages B's own contacts only", async () => {
    await createContact(a.apiKey);
    await createContact(a.apiKey);
    const laterOfB = await createContact(b.apiKey);
    const first = await api("/api/v1/contacts?limit=1", { key: a.apiKey });
    const { nextCursor } = await first.json<{ nextCursor: string | null }>();
    expect(nextCursor).toEqual(expect.any(String));
    const ownIds = new Set((await list(b.apiKey)).data.map((c) => c.id));
    const res = await api(`/api/v1/contacts?limit=100&cursor=${nextCursor}`, { key: b.apiKey });
    expect(res.status).toBe(200);
    const ids = (await res.json<{ data: Contact[] }>()).data.map((c) => c.id);
    expect(ids).toContain(laterOfB.id);
    for (const id of ids) expect(ownIds.has(id)).toBe(true);
  });

  it("by cache: a contact A has cached is a 404 for B", async () => {
    const contact = await createContact(a.apiKey);
    await api(`/api/v1/contacts/${contact.id}`, { key: a.apiKey });
    const hit = await api(`/api/v1/contacts/${contact.id}`, { key: a.apiKey });
    expect(hit.headers.get("x-cache")).toBe("HIT");
    await expectProblem(await api(`/api/v1/contacts/${contact.id}`, { key: b.apiKey }), 404, "not_found");
  });

  it("by idempotency key: B reusing A's key with another body is served, not told the key is taken", async () => {
    const idemKey = `shared-${crypto.randomUUID()}`;
    const headers = { "idempotency-key": idemKey };
    const fromA = await api("/api/v1/contacts", { key: a.apiKey, method: "POST", body: person(), headers });
    expect(fromA.status).toBe(201);
    const fromB = await api("/api/v1/contacts", { key: b.apiKey, method: "POST", body: person(), headers });
    expect(fromB.status).toBe(201);
    expect(fromB.headers.get("idempotent-replayed")).toBeNull();
    expect((await fromB.json<Contact>()).id).not.toBe((await fromA.json<Contact>()).id);
  });

  it("the same email may exist once in each connection", async () => {
    const email = person().email;
    await createContact(a.apiKey, person({ email }));
    await createContact(b.apiKey, person({ email }));
    expect(await contactsWithEmail(a.apiKey, email)).toHaveLength(1);
    expect(await contactsWithEmail(b.apiKey, email)).toHaveLength(1);
  });
});

describe("admin routes need the admin token", () => {
  const connectionBody = { name: "x", acmeClientId: "acme_client", acmeClientSecret: "s3cret" };

  it("with the admin token a connection and an API key are created", async () => {
    const created = await admin("/connections", { method: "POST", body: connectionBody });
    expect(created.status).toBe(201);
    const { id } = await created.json<{ id: string }>();
    const key = await admin(`/connections/${id}/api-keys`, { method: "POST" });
    expect(key.status).toBe(201);
    expect(await key.json()).toMatchObject({ connectionId: id, apiKey: expect.stringMatching(/^ab_/) });
  });

  it.each([
    ["no token", null],
    ["an API key", "API_KEY"],
    ["a wrong token", "WRONG"],
    ["the admin token with a suffix", "ADMIN_SUFFIX"],
  ])("with %s every admin route is 401 and nothing is created", async (_label, kind) => {
    const token =
      kind === null
        ? null
        : kind === "API_KEY"
          ? a.apiKey
          : kind === "WRONG"
            ? "x".repeat(env.ADMIN_TOKEN.length)
            : `${env.ADMIN_TOKEN}x`;
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE connection_id = ?")
      .bind(a.connectionId)
      .first<{ n: number }>();
    const name = `unauthorised-${crypto.randomUUID()}`;
    const attempts = [
      admin("/connections", { method: "POST", body: { ...connectionBody, name }, token }),
      admin("/connections", { token }),
      admin(`/connections/${a.connectionId}/api-keys`, { method: "POST", token }),
      admin("/api-keys/key_whatever", { method: "DELETE", token }),
    ];
    for (const res of await Promise.all(attempts)) {
      await expectProblem(res, 401, "unauthorized");
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
    const created = await env.DB.prepare("SELECT COUNT(*) AS n FROM connections WHERE name = ?")
      .bind(name)
      .first<{ n: number }>();
    expect(created?.n).toBe(0);
    const after = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE connection_id = ?")
      .bind(a.connectionId)
      .first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it("the admin token is not an API key for contacts", async () => {
    await expectProblem(await api("/api/v1/contacts", { key: env.ADMIN_TOKEN }), 401, "unauthorized");
  });

  it("an API key for an unknown connection is 404", async () => {
    await expectProblem(await admin("/connections/conn_nope/api-keys", { method: "POST" }), 404, "not_found");
  });

  it("a connection needs a name, client id and secret, and an http(s) base URL", async () => {
    const res = await admin("/connections", {
      method: "POST",
      body: { name: "", acmeBaseUrl: "ftp://acme.example", acmeClientSecret: "" },
    });
    const body = await expectProblem(res, 400, "validation_failed");
    expect((body.errors ?? []).map((e) => e.field).sort()).toEqual([
      "acmeBaseUrl",
      "acmeClientId",
      "acmeClientSecret",
      "name",
    ]);
  });
});

describe("the Acme client secret", () => {
  it("is never returned: not on create, not in the connection list", async () => {
    const client = await createClient();
    const created = await admin("/connections", {
      method: "POST",
      body: { name: "secretive", acmeClientId: client.clientId, acmeClientSecret: client.clientSecret },
    });
    expect(created.status).toBe(201);
    const createdText = await created.text();
    expect(createdText).not.toContain(client.clientSecret);
    const { id } = JSON.parse(createdText) as { id: string };

    const listed = await admin("/connections");
    expect(listed.status).toBe(200);
    const text = await listed.text();
    const { data } = JSON.parse(text) as { data: Record<string, unknown>[] };
    expect(data.find((c) => c.id === id)).toMatchObject({ id, acmeClientId: client.clientId });
    expect(text).not.toContain(client.clientSecret);
    for (const connection of data) {
      expect(Object.keys(connection).some((k) => /secret/i.test(k))).toBe(false);
    }
  });

  it("is stored encrypted, bound to its connection", async () => {
    const client = await createClient();
    const { connectionId } = await connect(client);
    const row = await env.DB.prepare("SELECT acme_client_secret_enc AS sealed FROM connections WHERE id = ?")
      .bind(connectionId)
      .first<{ sealed: string }>();
    const sealed = row?.sealed ?? "";
    expect(sealed).not.toContain(client.clientSecret);
    // v2, the id of the key that sealed it, the IV, the ciphertext.
    expect(sealed).toMatch(/^v2\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const { secretKeys } = loadIntegrationConfig(env);
    expect(await secretKeys.open(sealed, connectionId)).toBe(client.clientSecret);
    // The connection id is authenticated data: the ciphertext cannot be moved to another row.
    await expect(secretKeys.open(sealed, a.connectionId)).rejects.toThrow();
  });
});

describe("API key revocation", () => {
  it("a revoked key gets 401 at once; the connection's other keys keep working", async () => {
    const conn = await newConnection();
    const second = await admin(`/connections/${conn.connectionId}/api-keys`, { method: "POST" });
    const { id: secondId, apiKey: secondKey } = await second.json<{ id: string; apiKey: string }>();
    expect((await api("/api/v1/contacts", { key: secondKey })).status).toBe(200);

    expect((await admin(`/api-keys/${secondId}`, { method: "DELETE" })).status).toBe(204);
    const revoked = await api("/api/v1/contacts", { key: secondKey });
    await expectProblem(revoked, 401, "unauthorized");
    expect((await api("/api/v1/contacts", { key: conn.apiKey })).status).toBe(200);
  });

  it("revoking an unknown key is 404", async () => {
    await expectProblem(await admin("/api-keys/key_nope", { method: "DELETE" }), 404, "not_found");
  });

  it("stores only a hash of each API key", async () => {
    const row = await env.DB.prepare("SELECT key_hash, prefix FROM api_keys WHERE connection_id = ?")
      .bind(a.connectionId)
      .first<{ key_hash: string; prefix: string }>();
    expect(row?.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.key_hash).not.toContain(a.apiKey);
    expect(a.apiKey.startsWith(row?.prefix ?? "-")).toBe(true);
  });
});
