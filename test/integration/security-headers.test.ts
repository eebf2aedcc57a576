import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { BASE } from "./helpers.ts";

const get = (path: string, init: RequestInit = {}) =>
  SELF.fetch(`${BASE}${path}`, { redirect: "manual", ...init });

describe("X-Content-Type-Options: nosniff on every response of both systems", () => {
  it.each([
    ["the integration's health", "/health", 200],
    ["the integration's OpenAPI document", "/api/openapi.json", 200],
    ["the docs page", "/docs", 200],
    ["a problem: no API key", "/api/v1/contacts", 401],
    ["a problem: no such route", "/api/v1/nothing-here", 404],
    ["the console's sign-in page", "/console/sign-in", 200],
    ["the console's redirect to sign in", "/console/connections", 303],
    ["Acme's JWKS", "/acme/.well-known/jwks.json", 200],
    ["Acme's OpenAPI document", "/acme/openapi.json", 200],
    ["an Acme error: no token", "/acme/v1/contacts", 401],
    ["an Acme error: no such route", "/acme/nothing-here", 404],
  ])("%s (%s) answers %i with nosniff", async (_name, path, status) => {
    const res = await get(path);
    expect(res.status).toBe(status);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    await res.body?.cancel();
  });

  it("a method not allowed (405) and an invalid body (400) carry it too", async () => {
    const notAllowed = await get("/health", { method: "DELETE" });
    expect(notAllowed.status).toBe(405);
    expect(notAllowed.headers.get("x-content-type-options")).toBe("nosniff");
    const token = await get("/acme/oauth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=nonsense",
    });
    expect(token.status).toBe(400);
    expect(token.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("Strict-Transport-Security on the console outside local development", () => {
  it("is sent by the console (here ENVIRONMENT=test) and not by the JSON API", async () => {
    const page = await get("/console/sign-in");
    expect(page.headers.get("strict-transport-security")).toMatch(/^max-age=\d{7,}/);
    const redirect = await get("/console/connections");
    expect(redirect.headers.get("strict-transport-security")).toMatch(/^max-age=/);
    expect((await get("/health")).headers.get("strict-transport-security")).toBeNull();
  });

  it("is not sent in local development (ENVIRONMENT=development, plain http)", async () => {
    const ctx = createExecutionContext();
    const res = await createApp().fetch(
      new Request(`${BASE}/console/sign-in`),
      { ...env, ENVIRONMENT: "development" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    expect(res.headers.get("strict-transport-security")).toBeNull();
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("/docs cannot be framed and runs only what it serves", () => {
  it("sends frame-ancestors 'none', X-Frame-Options DENY and a CSP allowing its own script and start-up code", async () => {
    const res = await get("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const csp = res.headers.get("content-security-policy") ?? "";
    const directives = new Map(
      csp.split(";").map((d) => {
        const [name = "", ...values] = d.trim().split(/\s+/);
        return [name, values] as const;
      }),
    );
    expect(directives.get("frame-ancestors")).toEqual(["'none'"]);
    expect(directives.get("default-src")).toEqual(["'self'"]);
    expect(directives.get("object-src")).toEqual(["'none'"]);
    const scriptSrc = directives.get("script-src") ?? [];
    expect(scriptSrc).not.toContain("'unsafe-inline'");
    expect(scriptSrc).not.toContain("'unsafe-eval'");

    // Every inline script of the page is allowed by its hash, and nothing else is.
    const html = await res.text();
    // The script that keeps the viewer from probing for eval comes before the viewer.
    const noEval = html.indexOf('src="/assets/docs-no-eval.js"');
    expect(noEval).toBeGreaterThan(0);
    expect(html.indexOf('src="/assets/vendor/scalar-api-reference.js"')).toBeGreaterThan(noEval);
    const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi)].map(
      (m) => m[1] ?? "",
    );
    expect(inline.length).toBeGreaterThan(0);
    const hashes = await Promise.all(
      inline.map(async (body) => {
        const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body));
        return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
      }),
    );
    expect(scriptSrc.sort()).toEqual(["'self'", ...hashes].sort());
  });

  it("the JSON API carries no page policy (nothing to frame or run)", async () => {
    const res = await get("/api/openapi.json");
    expect(res.headers.get("x-frame-options")).toBeNull();
    expect(res.headers.get("content-security-policy")).toBeNull();
  });
});
