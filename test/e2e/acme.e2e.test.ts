import { describe, expect, inject, it } from "vitest";

const base = inject("baseUrl");
const adminToken = inject("adminToken");

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

describe("mock Acme over HTTP (wrangler dev)", () => {
  it("runs the client credentials flow and contact CRUD", async () => {
    const created = await fetch(`${base}/acme/admin/clients`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "e2e" }),
    });
    expect(created.status).toBe(201);
    const client = await json<{ client_id: string; client_secret: string }>(created);

    const wrongSecret = await fetch(`${base}/acme/oauth/token`, {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${client.client_id}:nope`)}` },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    });
    expect(wrongSecret.status).toBe(401);
    expect(await json(wrongSecret)).toMatchObject({ error: "invalid_client" });

    const tokenRes = await fetch(`${base}/acme/oauth/token`, {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    });
    expect(tokenRes.status).toBe(200);
    const { access_token } = await json<{ access_token: string }>(tokenRes);
    const auth = { authorization: `Bearer ${access_token}`, "content-type": "application/json" };

    const noToken = await fetch(`${base}/acme/v1/contacts`);
    expect(noToken.status).toBe(401);
    // RFC 6750 3.1: no credentials, no error code; a refused token carries one.
    expect(noToken.headers.get("www-authenticate")).toBe('Bearer realm="acme"');
    const badToken = await fetch(`${base}/acme/v1/contacts`, { headers: { authorization: "Bearer nope" } });
    expect(badToken.status).toBe(401);
    expect(badToken.headers.get("www-authenticate")).toContain('error="invalid_token"');

    const create = await fetch(`${base}/acme/v1/contacts`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        acme_first_name: "Émile",
        acme_last_name: "Zola",
        acme_email: "emile@example.com",
      }),
    });
    expect(create.status).toBe(201);
    expect(create.headers.get("etag")).toBe('"1"');
    const contact = await json<{ id: string }>(create);
    expect(create.headers.get("location")).toBe(`/acme/v1/contacts/${contact.id}`);

    const read = await fetch(`${base}/acme/v1/contacts/${contact.id}`, { headers: auth });
    expect(read.status).toBe(200);
    expect(read.headers.get("ratelimit-policy")).toMatch(/^"read";q=\d+;w=\d+$/);
    expect(await json(read)).toMatchObject({ acme_first_name: "Émile", acme_version: 1 });

    const stale = await fetch(`${base}/acme/v1/contacts/${contact.id}`, {
      method: "PATCH",
      headers: { ...auth, "if-match": '"7"' },
      body: JSON.stringify({ acme_title: "Author" }),
    });
    expect(stale.status).toBe(412);

    const patch = await fetch(`${base}/acme/v1/contacts/${contact.id}`, {
      method: "PATCH",
      headers: { ...auth, "if-match": '"1"' },
      body: JSON.stringify({ acme_title: "Author" }),
    });
    expect(patch.status).toBe(200);
    expect(await json(patch)).toMatchObject({ acme_title: "Author", acme_version: 2 });

    const replace = await fetch(`${base}/acme/v1/contacts/${contact.id}`, {
      method: "PUT",
      headers: auth,
      body: JSON.stringify({ acme_email: "emile@example.com", acme_last_name: "Zola" }),
    });
    expect(await json(replace)).toMatchObject({ acme_first_name: null, acme_title: null, acme_version: 3 });

    const unknownField = await fetch(`${base}/acme/v1/contacts`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ acme_email: "x@example.com", email: "x@example.com" }),
    });
    expect(unknownField.status).toBe(400);
    expect(await json(unknownField)).toMatchObject({
      error: { code: "validation_failed", details: [{ field: "email" }] },
    });

    const del = await fetch(`${base}/acme/v1/contacts/${contact.id}`, { method: "DELETE", headers: auth });
    expect(del.status).toBe(204);
    const gone = await fetch(`${base}/acme/v1/contacts/${contact.id}`, { headers: auth });
    expect(gone.status).toBe(404);
    expect(await json(gone)).toMatchObject({ error: { code: "not_found" } });
  });

  it("holds its edge cases over real HTTP: 413 first, 405 with Allow, 304, weak If-Match, lone surrogates", async () => {
    const created = await fetch(`${base}/acme/admin/clients`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "e2e edges" }),
    });
    const client = await json<{ client_id: string; client_secret: string }>(created);
    const tokenRes = await fetch(`${base}/acme/oauth/token`, {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    });
    const { access_token } = await json<{ access_token: string }>(tokenRes);
    const auth = { authorization: `Bearer ${access_token}`, "content-type": "application/json" };

    // A streamed (chunked) body over the limit, without a token or media type: 413 before 401/415.
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > 70_000) return controller.close();
        sent += 16_384;
        controller.enqueue(new Uint8Array(16_384).fill(120));
      },
    });
    const oversized = await fetch(`${base}/acme/v1/contacts`, {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(oversized.status).toBe(413);
    expect(await json(oversized)).toMatchObject({ error: { code: "payload_too_large" } });

    const wrongMethod = await fetch(`${base}/acme/v1/contacts`, { method: "PUT", headers: auth, body: "{}" });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET, HEAD, POST");
    expect(await json(wrongMethod)).toMatchObject({ error: { code: "method_not_allowed" } });

    const surrogate = await fetch(`${base}/acme/v1/contacts`, {
      method: "POST",
      headers: auth,
      body: '{"acme_email":"surrogate@example.com","acme_first_name":"x\\ud800y"}',
    });
    expect(surrogate.status).toBe(400);
    expect(await json(surrogate)).toMatchObject({ error: { details: [{ field: "acme_first_name" }] } });

    const create = await fetch(`${base}/acme/v1/contacts`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ acme_email: "edges@example.com" }),
    });
    const contact = await json<{ id: string }>(create);
    const path = `${base}/acme/v1/contacts/${contact.id}`;
    const notModified = await fetch(path, { headers: { ...auth, "if-none-match": 'W/"1"' } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("etag")).toBe('"1"');
    expect(await notModified.text()).toBe("");
    const weak = await fetch(path, {
      method: "PATCH",
      headers: { ...auth, "if-match": 'W/"1"' },
      body: JSON.stringify({ acme_title: "x" }),
    });
    expect(weak.status).toBe(412);
  });

  it("answers an injected fault in Acme's JSON format", async () => {
    const res = await fetch(`${base}/acme/oauth/token`, {
      method: "POST",
      headers: { "x-acme-fault": "status=503" },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await json(res)).toMatchObject({ error: { code: "service_unavailable" } });
  });
});
