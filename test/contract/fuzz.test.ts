import { env, SELF } from "cloudflare:test";
import { generateSync, type JsonSchema } from "json-schema-faker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContractFixture, disableAcmeFaults } from "./contract-fixture.ts";
import { mediaTypeOf, type OpenApiDocument, type Operation, type Parameter } from "./openapi-contract.ts";
import { type DocumentedOperation, documentedOperations, servedDocuments } from "./served-operations.ts";

// Contract fuzz: for every operation of both documents, requests generated from the document
// (json-schema-faker, seeded), valid ones and deliberately broken ones, sent with real
// credentials and real ids so they reach the handlers. Every response is checked against the
// documents by the SELF.fetch wrapper (test/contract/check-self.ts); here: no 5xx, a broken
// request is refused with a 4xx in its system's error format, and a valid one is never refused
// as invalid. CONTRACT_FUZZ_SEED=<n> reruns with another seed; every failure names its seed.

const SEED = Number(env.CONTRACT_FUZZ_SEED || 20_261_129);
/** Valid requests per operation (every third with unknown ids); then each applicable breakage once. */
const VALID_CASES = 6;
const ORIGIN = "http://bridge.test";

/**
 * Rules the server enforces that JSON Schema cannot state, by field: a request the document
 * allows may still be refused with 400 naming only these fields (and nothing else).
 */
const RULES_BEYOND_THE_SCHEMA: Record<string, string> = {
  cursor: "an opaque cursor only the API issues",
  after: "Acme's opaque paging cursor",
  url: "a webhook URL must be https to a public host (no private or loopback address)",
  redirectUrl: "a connect session's redirect URL: https (loopback http only in local dev), no credentials",
  latencyMs: "min must not exceed max",
  secret: "a whsec_ secret decodes (canonical padded base64) to 24 to 64 bytes",
  acmeWebhookSecret: "a whsec_ secret decodes (canonical padded base64) to 24 to 64 bytes",
  id: "an id sent back in a replace body must be the contact's own (the path's)",
};

/**
 * Acme's sign-in and consent page answers in HTML, its refusals too (an unknown client or
 * redirect URI is a page for the user, never a redirect or JSON); a generated client_id is never
 * registered, so its valid cases meet that page. test/acme/oauth-authorize.test.ts checks them.
 */
const HTML_PAGES = new Set(["/acme/oauth/authorize"]);
/** Acme's endpoints whose errors are RFC 6749 5.2's (`{error, error_description}`), not Acme's format. */
const OAUTH_ERROR_FORMAT = new Set(["/acme/oauth/token", "/acme/oauth/revoke"]);

/** The fields a 400 body names, in either system's format. */
function refusedFields(body: string): string[] {
  const parsed = JSON.parse(body) as {
    errors?: { field: string }[];
    error?: { details?: { field: string }[] };
  };
  return (parsed.errors ?? parsed.error?.details ?? []).map((e) => e.field);
}

const OPERATIONS = documentedOperations(await servedDocuments());

/** A 32-bit mix of the run's seed and a case's coordinates (so any one case reproduces alone). */
function caseSeed(...parts: number[]): number {
  let h = SEED >>> 0;
  for (const part of parts) {
    h = Math.imul(h ^ part, 0x9e3779b1) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
  }
  return h;
}

/** A value for a schema of a document, resolving its `#/components/...` refs. */
function sample(document: OpenApiDocument, schema: unknown, seed: number): unknown {
  const root = { ...(schema as object), components: document.components } as JsonSchema;
  return generateSync(root, { seed, optionalsProbability: 0.5, maxItems: 3, maxLength: 40 });
}

interface FuzzRequest {
  label: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body?: string;
  /** Whether the document says this request is wrong (it must then be refused with a 4xx). */
  broken: boolean;
}

function jsonBodySchema(op: Operation): { mediaType: string; schema: unknown } | null {
  const content = op.requestBody?.content ?? {};
  // JSON where the operation takes it (an import also takes CSV and NDJSON, which a schema of
  // `string` cannot generate meaningfully).
  const mediaType = "application/json" in content ? "application/json" : Object.keys(content)[0];
  return mediaType ? { mediaType, schema: content[mediaType]?.schema } : null;
}

function encodeBody(mediaType: string, value: unknown): string {
  if (mediaType === "application/x-www-form-urlencoded") {
    return new URLSearchParams(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    ).toString();
  }
  return JSON.stringify(value);
}

async function validRequest(
  fixture: ContractFixture,
  op: DocumentedOperation,
  seed: number,
  realIds: boolean,
) {
  const request: FuzzRequest = {
    label: realIds ? "valid" : "valid, unknown ids",
    path: op.template,
    query: new URLSearchParams(),
    headers: {},
    broken: false,
  };
  const token = fixture.credentials(op);
  if (token) request.headers.authorization = `Bearer ${token}`;
  for (const [i, param] of (op.operation.parameters ?? []).entries()) {
    const value = await parameterValue(fixture, op, param, caseSeed(seed, i), realIds);
    if (value === undefined) continue;
    if (param.in === "path")
      request.path = request.path.replace(`{${param.name}}`, encodeURIComponent(value));
    if (param.in === "query") request.query.set(param.name, value);
    if (param.in === "header") request.headers[param.name] = value;
  }
  const body = jsonBodySchema(op.operation);
  if (body) {
    request.headers["content-type"] = body.mediaType;
    // The token endpoint's real "ids" are a client's credentials (a generated scope would be refused).
    const value =
      op.template === "/acme/oauth/token" && realIds
        ? { grant_type: "client_credentials", ...fixture.tokenClientCredentials }
        : sample(op.document, body.schema, seed);
    request.body = encodeBody(body.mediaType, value);
  }
  return request;
}

async function parameterValue(
  fixture: ContractFixture,
  op: DocumentedOperation,
  param: Parameter,
  seed: number,
  realIds: boolean,
): Promise<string | undefined> {
  if (param.in === "path" && realIds) {
    const id = await fixture.id(op, param.name);
    if (id) return id;
  }
  // Conditional headers and idempotency keys change what a valid request means: leave them to the
  // tests of those features, which know the versions and keys in play.
  if (param.in === "header" || param.in === "cookie") return undefined;
  if (!param.required && seed % 2 === 0) return undefined;
  const value = sample(op.document, param.schema ?? { type: "string" }, seed);
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The ways a request can break its operation's document; each returns null where it does not apply. */
const BREAKAGES: ((op: DocumentedOperation, request: FuzzRequest) => FuzzRequest | null)[] = [
  function noCredentials(op, request) {
    if (!op.operation.security?.length) return null;
    const { authorization: _, ...headers } = request.headers;
    return { ...request, label: "no credentials", headers };
  },
  function wrongCredentials(op, request) {
    if (!op.operation.security?.length) return null;
    return {
      ...request,
      label: "wrong credentials",
      headers: { ...request.headers, authorization: "Bearer nope" },
    };
  },
  function malformedJson(op, request) {
    if (jsonBodySchema(op.operation)?.mediaType !== "application/json") return null;
    return { ...request, label: "malformed JSON", body: '{"unterminated": ' };
  },
  function unsupportedMediaType(op, request) {
    if (!jsonBodySchema(op.operation)) return null;
    return {
      ...request,
      label: "text/plain body",
      headers: { ...request.headers, "content-type": "text/plain" },
    };
  },
  function bodyOfWrongType(op, request) {
    if (jsonBodySchema(op.operation)?.mediaType !== "application/json") return null;
    return { ...request, label: "JSON array body", body: "[1, 2, 3]" };
  },
  function unknownField(op, request) {
    if (jsonBodySchema(op.operation)?.mediaType !== "application/json" || !request.body) return null;
    const body = JSON.parse(request.body) as unknown;
    if (!body || typeof body !== "object" || Array.isArray(body)) return null;
    return { ...request, label: "unknown field", body: JSON.stringify({ ...body, fuzzUnknownField: 1 }) };
  },
  function oversizedBody(op, request) {
    if (!jsonBodySchema(op.operation)) return null;
    return {
      ...request,
      label: "body over the size limit",
      body: JSON.stringify({ pad: "x".repeat(70_000) }),
    };
  },
  function overlongId(op, request) {
    if (!op.template.includes("{")) return null;
    const path = op.template.replace(/\{[^}]+\}/g, "a".repeat(300));
    return { ...request, label: "300-character id", path };
  },
  function integerQueryNotANumber(op, request) {
    const param = (op.operation.parameters ?? []).find(
      (p) => p.in === "query" && (p.schema as { type?: string } | undefined)?.type === "integer",
    );
    if (!param) return null;
    const query = new URLSearchParams(request.query);
    query.set(param.name, "not-a-number");
    return { ...request, label: `${param.name}=not-a-number`, query };
  },
];

async function send(op: DocumentedOperation, request: FuzzRequest): Promise<Response> {
  const query = request.query.toString();
  return SELF.fetch(`${ORIGIN}${request.path}${query ? `?${query}` : ""}`, {
    method: op.method.toUpperCase(),
    headers: request.headers,
    body: request.body,
  });
}

/** What the system's error responses look like (the token endpoint follows RFC 6749 instead). */
function errorMediaType(op: DocumentedOperation): string {
  return op.system === "integration" ? "application/problem+json" : "application/json";
}

const fixture = new ContractFixture();
beforeAll(() => fixture.setUp());
afterAll(disableAcmeFaults);

describe(`contract fuzz (seed ${SEED}; rerun with CONTRACT_FUZZ_SEED=${SEED})`, () => {
  it("covers every operation of both documents", () => {
    expect(OPERATIONS.length).toBeGreaterThan(40);
    expect(new Set(OPERATIONS.map((op) => op.system))).toEqual(new Set(["integration", "acme"]));
  });

  it.each(OPERATIONS.map((op, index) => [`${op.method.toUpperCase()} ${op.template}`, op, index] as const))(
    "%s",
    async (_, op, index) => {
      for (let n = 0; n < VALID_CASES + BREAKAGES.length; n += 1) {
        const seed = caseSeed(index, n);
        const valid = await validRequest(fixture, op, seed, n % 3 !== 2);
        let request: FuzzRequest | null = valid;
        if (n >= VALID_CASES) {
          request = BREAKAGES[n - VALID_CASES]?.(op, valid) ?? null;
          if (!request) continue;
          request.broken = true;
        }
        const where = `seed ${SEED}, case ${n} (${request.label}): ${op.method.toUpperCase()} ${request.path}`;
        let res: Response;
        try {
          res = await send(op, request);
        } catch (error) {
          throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
        }
        const text = await res.text();
        const page =
          HTML_PAGES.has(op.template) && mediaTypeOf(res.headers.get("content-type")) === "text/html";
        expect(res.status, `${where} answered ${res.status}: ${text.slice(0, 300)}`).toBeLessThan(500);
        if (request.broken) {
          expect(res.status, `${where} was accepted: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        } else if (res.status === 400 && !page) {
          const fields = refusedFields(text);
          const beyond = fields.length > 0 && fields.every((field) => field in RULES_BEYOND_THE_SCHEMA);
          expect(beyond, `${where}: a request the document allows was refused as invalid: ${text}`).toBe(
            true,
          );
        }
        if (res.status >= 400 && !OAUTH_ERROR_FORMAT.has(op.template) && !page) {
          expect(mediaTypeOf(res.headers.get("content-type")), where).toBe(errorMediaType(op));
        }
        if (op.method === "delete" && res.ok) fixture.forget(op);
        if (op.template === "/acme/admin/faults" && op.method === "put") await disableAcmeFaults();
      }
    },
  );
});
