import { SELF } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { loadChecker } from "./check-responses.ts";
import type { ContractChecker, ObservedExchange } from "./openapi-contract.ts";

const ORIGIN = "http://bridge.test";

let checker: ContractChecker;
beforeAll(async () => {
  checker = await loadChecker((input, init) => SELF.fetch(input, init), ORIGIN);
});

const CONTACT = {
  id: "acme_0123456789abcdefghjkmnpqrs",
  firstName: "Ada",
  lastName: "Lovelace",
  email: "ada@example.com",
  phone: null,
  company: null,
  title: null,
  notes: null,
  version: 1,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  customFields: {},
};

function exchange(
  method: string,
  path: string,
  status: number,
  body: unknown,
  headers: Record<string, string> = { "content-type": "application/json" },
): ObservedExchange {
  return {
    method,
    url: `${ORIGIN}${path}`,
    status,
    headers: new Headers(headers),
    body: body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body),
  };
}

const problem = (status: number, code: string) => ({
  type: `https://acme-bridge.dev/problems/${code}`,
  title: "Not found",
  status,
  detail: "No such route.",
  code,
  requestId: "r-1",
});

describe("the response contract check", () => {
  it("is installed on SELF.fetch for every workerd test file", () => {
    const loopback = (exports as unknown as { default: { fetch: { name: string } } }).default;
    expect(loopback.fetch.name).toBe("contractCheckedFetch");
  });

  it("accepts a response that keeps its operation's declaration", () => {
    expect(checker.violations(exchange("GET", `/api/v1/contacts/${CONTACT.id}`, 200, CONTACT))).toEqual([]);
    expect(
      checker.violations(exchange("DELETE", `/api/v1/contacts/${CONTACT.id}`, 204, undefined, {})),
    ).toEqual([]);
  });

  it("names the operation and the JSON path of a body that breaks the schema", () => {
    const problems = checker.violations(
      exchange("GET", "/api/v1/contacts", 200, {
        data: [CONTACT, { ...CONTACT, version: "2" }],
        nextCursor: null,
      }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("GET /api/v1/contacts (integration API");
    expect(problems[0]).toContain("body/data/1/version must be integer");
    const { email: _, ...withoutEmail } = CONTACT;
    expect(() =>
      checker.check(exchange("GET", "/api/v1/contacts", 200, { data: [withoutEmail], nextCursor: null })),
    ).toThrow(/body\/data\/0 must have required property 'email'/);
  });

  it("fails a status the operation does not declare", () => {
    const problems = checker.violations(exchange("GET", "/api/v1/status", 418, problem(418, "teapot")));
    expect(problems).toEqual([
      expect.stringContaining("GET /api/v1/status (integration API): status 418 is not declared"),
    ]);
  });

  it("fails a content type the status does not declare, and a body where none is declared", () => {
    expect(
      checker.violations(
        exchange("GET", `/api/v1/contacts/${CONTACT.id}`, 200, CONTACT, { "content-type": "text/plain" }),
      ),
    ).toEqual([expect.stringContaining("200 is text/plain; declared application/json")]);
    expect(checker.violations(exchange("DELETE", `/api/v1/contacts/${CONTACT.id}`, 204, "x"))).toEqual([
      expect.stringContaining("204 declares no body"),
    ]);
  });

  it("checks Acme's paths under its server prefix, with Acme's schemas", () => {
    const problems = checker.violations(exchange("GET", "/acme/v1/contacts", 200, { results: [{ id: 7 }] }));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toContain("GET /acme/v1/contacts (Acme");
    expect(problems.join("\n")).toContain("body/results/0/id must be string");
  });

  it("holds paths no document has to the system's error format", () => {
    const notFound = problem(404, "not_found");
    expect(
      checker.violations(
        exchange("GET", "/nowhere", 404, notFound, { "content-type": "application/problem+json" }),
      ),
    ).toEqual([]);
    expect(checker.violations(exchange("GET", "/nowhere", 404, { error: "nope" }))).toEqual([
      expect.stringContaining("expected application/problem+json"),
    ]);
    expect(
      checker.violations(
        exchange("GET", "/acme/nowhere", 404, { error: { code: "not_found", message: "No." } }),
      ),
    ).toEqual([]);
    expect(checker.violations(exchange("GET", "/acme/nowhere", 404, { code: "not_found" }))).toEqual([
      expect.stringContaining("must have required property 'error'"),
    ]);
    expect(checker.violations(exchange("GET", "/acme/nowhere", 200, { ok: true }))).toEqual([
      expect.stringContaining("should be a 4xx"),
    ]);
  });

  it("requires 405 with Allow listing the documented methods for a method a path lacks", () => {
    const acmeError = { error: { code: "method_not_allowed", message: "No." } };
    const path = `/acme/v1/contacts/${CONTACT.id}`;
    expect(
      checker.violations(
        exchange("POST", path, 405, acmeError, {
          "content-type": "application/json",
          allow: "GET, PUT, PATCH, DELETE",
        }),
      ),
    ).toEqual([]);
    expect(checker.violations(exchange("POST", path, 404, acmeError))).toEqual([
      expect.stringContaining("expected 405, got 404"),
      expect.stringContaining('Allow "" should list GET, PUT, DELETE, PATCH'),
    ]);
    expect(
      checker.violations(exchange("HEAD", "/acme/oauth/token", 405, undefined, { allow: "POST" })),
      "a HEAD answer has no body to check",
    ).toEqual([]);
    // Authentication or the body limit may come first: in the system's format, not a breach.
    expect(
      checker.violations(exchange("POST", path, 401, { error: { code: "invalid_token", message: "No." } })),
    ).toEqual([]);
  });
});
