import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RatePolicy } from "../../src/acme/config.ts";
import { limiterFor } from "../../src/acme/rate-limit/limiter-client.ts";
import { acme, expectAcmeError, tokenFor } from "./helpers.ts";

const admin = { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` };
const defaults = JSON.parse(env.ACME_RATE_LIMITS) as Record<string, RatePolicy>;
const defaultReadPolicy = `"read";q=${defaults.read?.limit};w=${defaults.read?.windowSeconds}`;

const unusedClientId = () => `cl-nope-${crypto.randomUUID().slice(0, 8)}`;

async function createClientWithId(clientId: string) {
  const res = await acme("/admin/clients", {
    method: "POST",
    headers: admin,
    body: { name: "later", client_id: clientId },
  });
  expect(res.status).toBe(201);
  const body = await res.json<{ client_id: string; client_secret: string }>();
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

describe("PUT /acme/admin/clients/{id}/rate-limits on a client that does not exist", () => {
  it("is 404 not_found, and a client created later with that id starts from the defaults", async () => {
    const clientId = unusedClientId();
    const res = await acme(`/admin/clients/${clientId}/rate-limits`, {
      method: "PUT",
      headers: admin,
      body: { read: { limit: 1, windowSeconds: 3600 } },
    });
    const body = await expectAcmeError(res, 404, "not_found");
    expect(body.error.message).toContain(clientId);

    const token = await tokenFor(await createClientWithId(clientId));
    for (let i = 0; i < 2; i++) {
      const read = await acme("/v1/contacts", { token });
      expect(read.status).toBe(200);
      expect(read.headers.get("ratelimit-policy")).toBe(defaultReadPolicy);
    }
  });

  it("is 404 for the issue's example id too, whatever the body", async () => {
    for (const body of [{}, { read: null }, { write: { limit: 5, windowSeconds: 60 } }]) {
      const res = await acme("/admin/clients/cl_nope/rate-limits", { method: "PUT", headers: admin, body });
      await expectAcmeError(res, 404, "not_found");
    }
  });

  it("still validates the body first: 400 for a bad body even for an unknown client", async () => {
    const res = await acme(`/admin/clients/${unusedClientId()}/rate-limits`, {
      method: "PUT",
      headers: admin,
      body: { read: { limit: 0, windowSeconds: 60 } },
    });
    await expectAcmeError(res, 400, "validation_failed");
  });

  it("stores limits for a client that exists (204), and they apply", async () => {
    const clientId = unusedClientId();
    const token = await tokenFor(await createClientWithId(clientId));
    const res = await acme(`/admin/clients/${clientId}/rate-limits`, {
      method: "PUT",
      headers: admin,
      body: { read: { limit: 7, windowSeconds: 600 } },
    });
    expect(res.status).toBe(204);
    expect((await acme("/v1/contacts", { token })).headers.get("ratelimit-policy")).toBe('"read";q=7;w=600');
  });
});

describe("POST /acme/admin/clients", () => {
  it("clears limits left under an id before the client existed, keeping only the ones it asks for", async () => {
    const clientId = unusedClientId();
    // Limits stored under the id by other means (e.g. before the 404 existed).
    await limiterFor(env, clientId).setOverrides({
      read: { limit: 1, windowSeconds: 3600 },
      write: { limit: 1, windowSeconds: 3600 },
    });
    const res = await acme("/admin/clients", {
      method: "POST",
      headers: admin,
      body: { name: "fresh", client_id: clientId, rate_limits: { write: { limit: 9, windowSeconds: 60 } } },
    });
    expect(res.status).toBe(201);
    const created = await res.json<{ client_id: string; client_secret: string }>();
    const token = await tokenFor({ clientId: created.client_id, clientSecret: created.client_secret });
    const read = await acme("/v1/contacts", { token });
    expect(read.headers.get("ratelimit-policy")).toBe(defaultReadPolicy);
    const write = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: { acme_email: `${clientId}@example.com` },
    });
    expect(write.status).toBe(201);
    expect(write.headers.get("ratelimit-policy")).toBe('"write";q=9;w=60');
  });

  it("answers 409 for an id that exists, and keeps that client's limits", async () => {
    const clientId = unusedClientId();
    const token = await tokenFor(await createClientWithId(clientId));
    await acme(`/admin/clients/${clientId}/rate-limits`, {
      method: "PUT",
      headers: admin,
      body: { read: { limit: 7, windowSeconds: 600 } },
    });
    const again = await acme("/admin/clients", {
      method: "POST",
      headers: admin,
      body: { name: "again", client_id: clientId },
    });
    await expectAcmeError(again, 409, "conflict");
    expect((await acme("/v1/contacts", { token })).headers.get("ratelimit-policy")).toBe('"read";q=7;w=600');
  });
});

describe("unknown admin routes", () => {
  it.each([
    ["GET", "/admin/clients/cl_nope"],
    ["GET", "/admin/nope"],
    ["PUT", "/admin/clients/cl_nope/limits"],
  ])("%s %s is 404 not_found", async (method, path) => {
    const res = await acme(path, {
      method,
      headers: admin,
      ...(method === "PUT" ? { body: {} } : {}),
    });
    await expectAcmeError(res, 404, "not_found");
  });
});
