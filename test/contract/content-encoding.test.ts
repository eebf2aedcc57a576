import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { expectAcmeError } from "../acme/helpers.ts";
import { expectProblem, newConnection, person } from "../integration/helpers.ts";
import { ContractFixture } from "./contract-fixture.ts";
import { type DocumentedOperation, documentedOperations, servedDocuments } from "./served-operations.ts";

// A body with a content coding the server does not decode (RFC 9110 15.5.16, RFC 7694): every
// operation that takes a body answers 415 with Accept-Encoding, in its system's format, and
// declares that 415 in its document. Read as if plain, the coded bytes would be parsed as garbage.
// The requests carry the operation's credentials: the body is looked at once the caller is known.

const ORIGIN = "http://bridge.test";
const WITH_BODY = documentedOperations(await servedDocuments()).filter((o) => o.operation.requestBody);

function concretePath({ template }: DocumentedOperation): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => `${name}_01jd5x8m3q`);
}

async function gzipped(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const fixture = new ContractFixture();
beforeAll(() => fixture.setUp());

async function codedRequest(operation: DocumentedOperation, coding: string): Promise<Response> {
  const content = operation.operation.requestBody?.content ?? {};
  const mediaType = "application/json" in content ? "application/json" : (Object.keys(content)[0] ?? "");
  const credentials = fixture.credentials(operation);
  return SELF.fetch(`${ORIGIN}${concretePath(operation)}`, {
    method: operation.method.toUpperCase(),
    headers: {
      "content-type": mediaType,
      "content-encoding": coding,
      ...(credentials ? { authorization: `Bearer ${credentials}` } : {}),
    },
    body: await gzipped("{}"),
  });
}

describe("a request body with a content coding is refused, 415 with Accept-Encoding", () => {
  it("walks the operations with a body of both documents", () => {
    expect(WITH_BODY.filter((o) => o.system === "integration").length).toBeGreaterThanOrEqual(8);
    expect(WITH_BODY.filter((o) => o.system === "acme").length).toBeGreaterThanOrEqual(5);
  });

  it.each(WITH_BODY.map((o) => [o.system, `${o.method.toUpperCase()} ${o.template}`, o] as const))(
    "%s: %s",
    async (system, _, operation) => {
      expect(Object.keys(operation.operation.responses)).toContain("415");
      const res = await codedRequest(operation, "gzip");
      if (system === "integration") await expectProblem(res, 415, "unsupported_media_type");
      else await expectAcmeError(res, 415, "unsupported_media_type");
      expect(res.headers.get("accept-encoding")).toBe("identity");
    },
  );
});

describe("the webhook receiver (its body is read raw, so undocumented as a schema)", () => {
  it("a gzipped webhook is 415 before its signature is looked at, and nothing is queued", async () => {
    const res = await SELF.fetch(`${ORIGIN}/webhooks/acme/conn_01jd5x8m3q`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: await gzipped("{}"),
    });
    await expectProblem(res, 415, "unsupported_media_type");
    expect(res.headers.get("accept-encoding")).toBe("identity");
  });
});

describe("bodies sent as they are", () => {
  it("Content-Encoding: identity (any case) is a body as it is: the create succeeds", async () => {
    const { apiKey } = await newConnection();
    const res = await SELF.fetch(`${ORIGIN}/api/v1/contacts`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${apiKey}`,
        "content-type": "application/json",
        "content-encoding": "Identity",
      },
      body: JSON.stringify(person()),
    });
    expect(res.status).toBe(201);
  });

  it("a coding listed beside identity (gzip, identity) is still refused, and a bodiless GET passes", async () => {
    const { apiKey } = await newConnection();
    const coded = await SELF.fetch(`${ORIGIN}/api/v1/contacts`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${apiKey}`,
        "content-type": "application/json",
        "content-encoding": "gzip, identity",
      },
      body: await gzipped(JSON.stringify(person())),
    });
    await expectProblem(coded, 415, "unsupported_media_type");
    const listed = await SELF.fetch(`${ORIGIN}/api/v1/contacts?limit=1`, {
      headers: { authorization: `Bearer ${apiKey}`, "content-encoding": "gzip" },
    });
    expect(listed.status).toBe(200);
  });
});
