import { describe, expect, it } from "vitest";
import { base, newConnection } from "./helpers.ts";

describe("integration API over HTTP (wrangler dev)", () => {
  it("runs the seed's flow: POST /api/contacts, then GET, PUT and DELETE", async () => {
    const key = (await newConnection()).apiKey;
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };

    const created = await fetch(`${base}/api/contacts`, {
      method: "POST",
      headers,
      body: JSON.stringify({ firstName: "Katherine", lastName: "Johnson", email: "katherine@example.com" }),
    });
    expect(created.status).toBe(201);
    const contact = (await created.json()) as { id: string; version: number };
    expect(contact).toMatchObject({ firstName: "Katherine", lastName: "Johnson", version: 1 });
    expect(created.headers.get("location")).toBe(`/api/contacts/${contact.id}`);

    const first = await fetch(`${base}/api/contacts/${contact.id}`, { headers });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-cache")).toBe("MISS");
    const second = await fetch(`${base}/api/contacts/${contact.id}`, { headers });
    expect(second.headers.get("x-cache")).toBe("HIT");
    expect(second.headers.get("etag")).toBe('"1"');

    const replaced = await fetch(`${base}/api/contacts/${contact.id}`, {
      method: "PUT",
      headers: { ...headers, "if-match": '"1"' },
      body: JSON.stringify({ firstName: "Katherine", lastName: "Goble", email: "katherine@example.com" }),
    });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({ lastName: "Goble", version: 2 });

    const stale = await fetch(`${base}/api/contacts/${contact.id}`, {
      method: "PUT",
      headers: { ...headers, "if-match": '"1"' },
      body: JSON.stringify({ firstName: "K", lastName: "G", email: "katherine@example.com" }),
    });
    expect(stale.status).toBe(412);
    expect(stale.headers.get("content-type")).toBe("application/problem+json");

    const afterWrite = await fetch(`${base}/api/contacts/${contact.id}`, { headers });
    expect(afterWrite.headers.get("x-cache")).toBe("MISS");
    expect(await afterWrite.json()).toMatchObject({ lastName: "Goble", version: 2 });

    const deleted = await fetch(`${base}/api/contacts/${contact.id}`, { method: "DELETE", headers });
    expect(deleted.status).toBe(204);
    const gone = await fetch(`${base}/api/contacts/${contact.id}`, { headers });
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ code: "not_found", status: 404 });
  });

  it("refuses a missing API key with problem+json", async () => {
    const res = await fetch(`${base}/api/contacts`);
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
});
