import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ACME, acme, expectAcmeError, signedIn, uniqueEmail } from "./helpers.ts";

const MAX_BODY_BYTES = Number(env.ACME_MAX_BODY_BYTES);
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
}

/** Every documented operation, as a concrete path and its documented methods (upper case). */
async function documentedPaths(): Promise<{ template: string; path: string; methods: string[] }[]> {
  const doc = await (await SELF.fetch(`${ACME}/openapi.json`)).json<OpenApiDocument>();
  return Object.entries(doc.paths).map(([template, operations]) => ({
    template,
    path: template.replace(/\{[^}]+\}/g, "x1"),
    methods: Object.keys(operations).map((m) => m.toUpperCase()),
  }));
}

function credentialsFor(path: string, token: string): Record<string, string> {
  if (path.startsWith("/admin/")) return { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` };
  if (path.startsWith("/v1/")) return { authorization: `Bearer ${token}` };
  return {};
}

describe("405 Method Not Allowed", () => {
  it("answers every undocumented method of every documented path with 405, Allow and Acme's error format", async () => {
    const { token } = await signedIn();
    const paths = await documentedPaths();
    expect(paths.length).toBeGreaterThan(8);
    let checked = 0;
    for (const { path, methods } of paths) {
      const expected = [...methods, ...(methods.includes("GET") ? ["HEAD"] : [])];
      for (const method of METHODS.filter((m) => !methods.includes(m))) {
        const res = await acme(path, { method, headers: credentialsFor(path, token) });
        const body = await expectAcmeError(res, 405, "method_not_allowed");
        const allow = (res.headers.get("allow") ?? "").split(", ");
        expect(allow.sort(), `${method} ${path}`).toEqual([...expected].sort());
        expect(body.error.message).toContain(method);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it.each([
    ["PUT", "/v1/contacts", "GET, HEAD, POST"],
    ["POST", "/v1/contacts/ct_00000000000000000000000000", "GET, HEAD, PUT, PATCH, DELETE"],
    ["DELETE", "/admin/faults", "GET, HEAD, PUT"],
    ["GET", "/oauth/token", "POST"],
    ["PATCH", "/.well-known/jwks.json", "GET, HEAD"],
    ["DELETE", "/openapi.json", "GET, HEAD"],
  ])("%s %s lists %s in Allow", async (method, path, allow) => {
    const { token } = await signedIn();
    const res = await acme(path, { method, headers: credentialsFor(path, token) });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe(allow);
  });

  it("answers HEAD on a path without GET with 405 and no body", async () => {
    const res = await acme("/oauth/token", { method: "HEAD" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await res.text()).toBe("");
  });

  it("keeps 404 for paths no route has, and the documented methods working", async () => {
    const { token } = await signedIn();
    await expectAcmeError(await acme("/v1/contact", { token, method: "PUT" }), 404, "not_found");
    await expectAcmeError(await acme("/v1/contacts/x1/extra", { token }), 404, "not_found");
    expect((await acme("/v1/contacts", { token })).status).toBe(200);
    expect((await acme("/v1/contacts", { token, method: "HEAD" })).status).toBe(200);
  });

  it("still asks for credentials first under /v1: no token is 401, not 405", async () => {
    const res = await acme("/v1/contacts", { method: "PUT" });
    expect(res.status).toBe(401);
  });
});

describe("413 Content Too Large on every route, before any other check", () => {
  const oversized = () => "x".repeat(MAX_BODY_BYTES + 1);

  it("answers every documented operation that can carry a body with 413, whatever else is wrong", async () => {
    const paths = await documentedPaths();
    let checked = 0;
    for (const { path, methods } of paths) {
      for (const method of methods.filter((m) => m !== "GET")) {
        // No credentials, no media type, no JSON: the size is judged first.
        const res = await SELF.fetch(`${ACME}${path}`, { method, body: oversized() });
        expect(res.status, `${method} ${path}`).toBe(413);
        // The token and revocation endpoints keep RFC 6749's error shape; everything else is Acme's.
        const expected =
          path === "/oauth/token" || path === "/oauth/revoke"
            ? { error: "invalid_request" }
            : { error: { code: "payload_too_large" } };
        expect(await res.json()).toMatchObject(expected);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(8);
  });

  it.each([
    ["POST", "/v1/contacts", "no token, wrong media type"],
    ["PUT", "/admin/faults", "no admin token"],
    ["POST", "/admin/clients/x1/rate-limits", "a method the path does not have"],
    ["POST", "/nope", "a path no route has"],
  ])("%s %s with an oversized body (%s) is 413 payload_too_large in Acme's format", async (method, path) => {
    const res = await SELF.fetch(`${ACME}${path}`, {
      method,
      headers: { "content-type": "text/plain" },
      body: oversized(),
    });
    await expectAcmeError(res, 413, "payload_too_large");
  });

  it("judges a streamed body without Content-Length by its size, before authentication", async () => {
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_BODY_BYTES) return controller.close();
        sent += 8192;
        controller.enqueue(new Uint8Array(8192).fill(120));
      },
    });
    const res = await SELF.fetch(`${ACME}/v1/contacts`, { method: "POST", body: stream });
    await expectAcmeError(res, 413, "payload_too_large");
  });

  it("lets a streamed body within the limit through to the route", async () => {
    const { token } = await signedIn();
    const email = uniqueEmail();
    const bytes = new TextEncoder().encode(JSON.stringify({ acme_email: email }));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 5));
        controller.enqueue(bytes.slice(5));
        controller.close();
      },
    });
    const res = await SELF.fetch(`${ACME}/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: stream,
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ acme_email: email });
  });

  it("gives the token endpoint its own 4 KiB limit, with an RFC 6749 error body", async () => {
    const big = new URLSearchParams({ grant_type: "client_credentials", scope: "x".repeat(5000) });
    const res = await SELF.fetch(`${ACME}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: "invalid_request" });
    expect(res.headers.get("cache-control")).toBe("no-store");

    const small = await SELF.fetch(`${ACME}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    });
    expect(small.status).toBe(401);
    expect(await small.json()).toMatchObject({ error: "invalid_client" });
  });
});
