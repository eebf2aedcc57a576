import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import {
  admin,
  api,
  BASE,
  createContact,
  errorFields,
  expectProblem,
  newConnection,
  person,
  problem,
} from "./helpers.ts";

let key: string;
let contactId: string;

beforeAll(async () => {
  ({ apiKey: key } = await newConnection());
  contactId = (await createContact(key)).id;
});

const write = (method: "POST" | "PUT" | "PATCH", body: unknown, headers: Record<string, string> = {}) =>
  api(method === "POST" ? "/api/v1/contacts" : `/api/v1/contacts/${contactId}`, {
    key,
    method,
    body,
    headers,
  });

/** Asserts a 400 naming exactly `fields`, none of them Acme's. */
async function expectInvalid(res: Response, fields: string[]) {
  const body = await expectProblem(res, 400, "validation_failed");
  expect(errorFields(body)).toEqual([...fields].sort());
  for (const error of body.errors ?? []) {
    expect(error.field).not.toMatch(/^acme_/);
    expect(error.message.length).toBeGreaterThan(0);
  }
  return body;
}

describe("required fields", () => {
  it.each(["POST", "PUT"] as const)("%s accepts firstName, lastName and email alone", async (method) => {
    const res = await write(method, person());
    expect(res.status).toBe(method === "POST" ? 201 : 200);
  });

  it.each(["POST", "PUT"] as const)(
    "%s without firstName, lastName or email names each of them",
    async (method) => {
      await expectInvalid(await write(method, { phone: "123" }), ["email", "firstName", "lastName"]);
      await expectInvalid(await write(method, { firstName: "Ada", lastName: "Lovelace" }), ["email"]);
      await expectInvalid(await write(method, { lastName: "Lovelace", email: "x@example.com" }), [
        "firstName",
      ]);
    },
  );

  it("POST rejects empty names and null for required fields", async () => {
    await expectInvalid(await write("POST", person({ firstName: "", lastName: null, email: null })), [
      "email",
      "firstName",
      "lastName",
    ]);
  });

  it("PUT rejects empty names and a null email, but takes null names back (they may read null)", async () => {
    await expectInvalid(await write("PUT", person({ firstName: "", lastName: null, email: null })), [
      "email",
      "firstName",
    ]);
    const res = await write("PUT", person({ firstName: null, lastName: null }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ firstName: null, lastName: null });
  });

  it("PATCH accepts any subset of fields but not null for required ones", async () => {
    const ok = await write("PATCH", { title: "Countess" });
    expect(ok.status).toBe(200);
    await expectInvalid(await write("PATCH", { firstName: null, email: null }), ["email", "firstName"]);
  });

  it("a body that is not an object is rejected as a whole", async () => {
    for (const body of ["[]", '"Ada"', "null", "42"]) {
      const res = await write("POST", body);
      expect((await expectProblem(res, 400, "validation_failed")).errors?.length).toBeGreaterThan(0);
    }
  });
});

describe("field rules", () => {
  it.each(["POST", "PUT", "PATCH"] as const)("%s rejects a malformed email", async (method) => {
    for (const email of ["not-an-email", "ada@", "@example.com", "ada lovelace@example.com"]) {
      await expectInvalid(await write(method, person({ email })), ["email"]);
    }
  });

  it("accepts every field at its maximum length", async () => {
    const local = "a".repeat(64);
    const domain = `${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(50)}.com`;
    const input = person({
      firstName: "f".repeat(100),
      lastName: "l".repeat(100),
      email: `${local}@${domain}`,
      phone: "1".repeat(40),
      company: "c".repeat(200),
      title: "t".repeat(200),
      notes: "n".repeat(10_000),
    });
    expect((input.email as string).length).toBeLessThanOrEqual(254);
    const res = await write("POST", input);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject(input);
  });

  it.each(["POST", "PUT", "PATCH"] as const)(
    "%s rejects each field one character too long",
    async (method) => {
      const tooLong = {
        firstName: "f".repeat(101),
        lastName: "l".repeat(101),
        phone: "1".repeat(41),
        company: "c".repeat(201),
        title: "t".repeat(201),
        notes: "n".repeat(10_001),
      };
      await expectInvalid(await write(method, person(tooLong)), Object.keys(tooLong));
      const longEmail = `${"a".repeat(250)}@example.com`;
      await expectInvalid(await write(method, person({ email: longEmail })), ["email"]);
    },
  );

  it.each(["POST", "PUT", "PATCH"] as const)(
    "%s rejects text with a lone surrogate, which Acme could not store as sent",
    async (method) => {
      const broken = { firstName: "Ad\ud800a", lastName: "\udfff", company: "x\ud83d", notes: "\ude00" };
      await expectInvalid(await write(method, person(broken)), Object.keys(broken));
      expect((await write(method, person({ firstName: "Ad😀a" }))).status).toBe(
        method === "POST" ? 201 : 200,
      );
    },
  );

  it("rejects a phone number with letters", async () => {
    await expectInvalid(await write("POST", person({ phone: "call me" })), ["phone"]);
  });

  it("rejects fields of the wrong type", async () => {
    await expectInvalid(await write("POST", person({ firstName: 7, notes: ["a"], company: true })), [
      "company",
      "firstName",
      "notes",
    ]);
  });
});

describe("unknown fields", () => {
  it.each(["POST", "PUT", "PATCH"] as const)("%s names each unknown field", async (method) => {
    await expectInvalid(await write(method, person({ nickname: "Ada", middleName: "King" })), [
      "middleName",
      "nickname",
    ]);
  });

  it("read-only fields cannot be written", async () => {
    const readOnly = { id: "ct_x", version: 9, createdAt: "2020-01-01T00:00:00Z", updatedAt: "x" };
    await expectInvalid(await write("POST", person(readOnly)), Object.keys(readOnly));
    await expectInvalid(await write("PATCH", { version: 9 }), ["version"]);
  });

  it("Acme's own field names are not accepted in place of the API's", async () => {
    const res = await write("POST", {
      acme_first_name: "Ada",
      acme_last_name: "L",
      acme_email: "a@example.com",
    });
    const body = await expectProblem(res, 400, "validation_failed");
    // The missing API fields are named; the Acme names are reported only as the unknown keys sent.
    expect(errorFields(body)).toEqual(
      ["acme_email", "acme_first_name", "acme_last_name", "email", "firstName", "lastName"].sort(),
    );
  });
});

describe("request bodies", () => {
  it("malformed JSON is 400 invalid_json", async () => {
    for (const body of ['{"firstName": "Ada",', "{firstName: 'Ada'}", ""]) {
      await expectProblem(await write("POST", body), 400, "invalid_json");
    }
    await expectProblem(await write("PUT", "{"), 400, "invalid_json");
    await expectProblem(await write("PATCH", "nope"), 400, "invalid_json");
  });

  it("a JSON body with a JSON media type other than application/json is accepted", async () => {
    const res = await write(
      "PATCH",
      { title: "Analyst" },
      { "content-type": "application/merge-patch+json" },
    );
    expect(res.status).toBe(200);
  });

  it("a text/plain body is 415, even when it holds valid JSON", async () => {
    const headers = { "content-type": "text/plain" };
    await expectProblem(await write("POST", person(), headers), 415, "unsupported_media_type");
    await expectProblem(await write("PUT", person(), headers), 415, "unsupported_media_type");
    await expectProblem(await write("PATCH", { title: "x" }, headers), 415, "unsupported_media_type");
  });

  it("a body without a Content-Type is 415", async () => {
    const res = await SELF.fetch(`${BASE}/api/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
      body: new TextEncoder().encode(JSON.stringify(person())),
    });
    await expectProblem(res, 415, "unsupported_media_type");
  });

  it("a body of exactly 65536 bytes is read; one byte more is 413", async () => {
    const exact = (size: number) => {
      const base = JSON.stringify(person({ notes: "" }));
      // Pad with whitespace: valid JSON of the exact size, which then fails only the schema or not at all.
      return base + " ".repeat(size - new TextEncoder().encode(base).byteLength);
    };
    const atLimit = await write("POST", exact(65_536));
    expect(atLimit.status).toBe(201);
    await expectProblem(await write("POST", exact(65_537)), 413, "payload_too_large");
  });

  it("an oversized body without Content-Length (streamed) is 413 as well", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(16_384));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode(JSON.stringify(person())));
        else controller.enqueue(chunk);
        sent += 1;
        if (sent > 6) controller.close();
      },
    });
    const res = await SELF.fetch(`${BASE}/api/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: stream,
    });
    await expectProblem(res, 413, "payload_too_large");
  });
});

describe("list query", () => {
  it("accepts limit 1 to 100 and an ISO 8601 updatedSince", async () => {
    for (const query of [
      "limit=1",
      "limit=100",
      "updatedSince=2020-01-01T00:00:00Z",
      "updatedSince=2020-01-01T02:00:00%2B02:00",
    ]) {
      expect((await api(`/api/v1/contacts?${query}`, { key })).status).toBe(200);
    }
  });

  it.each(["0", "101", "-1", "2.5", "ten", ""])("limit=%j is 400 naming limit", async (limit) => {
    await expectInvalid(await api(`/api/v1/contacts?limit=${limit}`, { key }), ["limit"]);
  });

  it.each(["yesterday", "2020-13-01T00:00:00Z", "2020-01-01", "1700000000"])(
    "updatedSince=%j is 400 naming updatedSince",
    async (value) => {
      await expectInvalid(await api(`/api/v1/contacts?updatedSince=${encodeURIComponent(value)}`, { key }), [
        "updatedSince",
      ]);
    },
  );

  it("an unknown query parameter is named", async () => {
    await expectInvalid(await api("/api/v1/contacts?after=abc&sort=name", { key }), ["after", "sort"]);
  });

  it.each(["garbage", "Yzo6bm90LWFuLWlk", "YzE6Y3RfeA", "%F0%9F%92%A9"])(
    "cursor %j that this API did not issue is 400 invalid_cursor naming cursor",
    async (cursor) => {
      const res = await api(`/api/v1/contacts?cursor=${cursor}`, { key });
      const body = await expectProblem(res, 400, "invalid_cursor");
      expect(errorFields(body)).toEqual(["cursor"]);
    },
  );

  it("an overlong cursor is 400 naming cursor", async () => {
    const res = await api(`/api/v1/contacts?cursor=${"a".repeat(201)}`, { key });
    expect(res.status).toBe(400);
    expect(errorFields(await problem(res))).toEqual(["cursor"]);
  });
});

describe("If-Match", () => {
  it.each(["PUT", "PATCH", "DELETE"] as const)("%s accepts a quoted version list and *", async (method) => {
    const body = () => (method === "PUT" ? person() : method === "PATCH" ? { title: "x" } : undefined);
    for (const ifMatch of ['"7", "1"', "*"]) {
      const contact = await createContact(key);
      const res = await api(`/api/v1/contacts/${contact.id}`, {
        key,
        method,
        body: body(),
        headers: { "if-match": ifMatch },
      });
      expect(res.status).toBe(method === "DELETE" ? 204 : 200);
    }
  });

  it.each(["PUT", "PATCH", "DELETE"] as const)(
    "%s with a malformed If-Match is 400 and changes nothing",
    async (method) => {
      const contact = await createContact(key);
      const path = `/api/v1/contacts/${contact.id}`;
      const body = method === "PUT" ? person() : method === "PATCH" ? { title: "x" } : undefined;
      for (const ifMatch of ["1", 'w/"1"', '"1", 2', '"1"garbage', '*, "1"', "'1'"]) {
        const res = await api(path, { key, method, body, headers: { "if-match": ifMatch } });
        const problem = await expectProblem(res, 400, "precondition_invalid");
        expect(problem.errors?.map((e) => e.field)).toEqual(["If-Match"]);
      }
      const after = await api(path, { key });
      expect(after.status).toBe(200);
      expect(await after.json()).toMatchObject({ version: 1, email: contact.email, title: null });
    },
  );

  it.each(["PUT", "PATCH", "DELETE"] as const)(
    "%s with a well-formed If-Match that matches nothing (weak, unknown, huge) is 412 and changes nothing",
    async (method) => {
      const contact = await createContact(key);
      const path = `/api/v1/contacts/${contact.id}`;
      const body = method === "PUT" ? person() : method === "PATCH" ? { title: "x" } : undefined;
      // RFC 9110 13.1.1: strong comparison, so W/"1" never matches the contact's "1".
      for (const ifMatch of ['W/"1"', '"one"', '"2"', '"99999999999999999999999"', 'W/"1", "7"', ","]) {
        const res = await api(path, { key, method, body, headers: { "if-match": ifMatch } });
        await expectProblem(res, 412, "version_mismatch");
      }
      const after = await api(path, { key });
      expect(await after.json()).toMatchObject({ version: 1, email: contact.email, title: null });
    },
  );

  it("PUT and PATCH with If-None-Match: * on an existing contact are 412 (it exists)", async () => {
    const contact = await createContact(key);
    const path = `/api/v1/contacts/${contact.id}`;
    for (const [method, body] of [
      ["PUT", person()],
      ["PATCH", { title: "x" }],
    ] as const) {
      const res = await api(path, { key, method, body, headers: { "if-none-match": "*" } });
      await expectProblem(res, 412, "version_mismatch");
    }
    await expectProblem(
      await api(path, { key, method: "PATCH", body: { title: "x" }, headers: { "if-none-match": '"1' } }),
      400,
      "precondition_invalid",
    );
  });
});

describe("routes and ids", () => {
  it.each([
    ["GET", "/nope"],
    ["GET", "/api/v2/contacts"],
    ["POST", "/api/v1/contacts/ct_123/notes"],
  ])("%s %s is a 404 problem, never HTML", async (method, path) => {
    const res = await api(path, { key, method, headers: { accept: "text/html" } });
    await expectProblem(res, 404, "not_found");
  });

  it("an unknown admin route is 401 without the admin token and a 404 problem with it", async () => {
    await expectProblem(await admin("/nothing-here", { token: key }), 401, "unauthorized");
    await expectProblem(await admin("/nothing-here"), 404, "not_found");
  });

  it("a malformed contact id is 400 naming id", async () => {
    await expectInvalid(await api("/api/v1/contacts/bad%20id!", { key }), ["id"]);
    await expectInvalid(await api(`/api/v1/contacts/${"a".repeat(65)}`, { key }), ["id"]);
  });
});

describe("problem documents", () => {
  it("every error is problem+json whose requestId is the X-Request-Id header, distinct per request", async () => {
    const responses = await Promise.all([
      api("/api/v1/contacts"),
      api("/api/v1/contacts", { key, method: "POST", body: "{" }),
      api("/api/v1/contacts", { key, method: "POST", body: {} }),
      api("/api/v1/contacts/ct_00000000000000000000000000", { key }),
      api("/nope"),
    ]);
    const ids = new Set<string>();
    for (const res of responses) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      const body = await problem(res);
      expect(Object.keys(body)).toEqual(
        expect.arrayContaining(["type", "title", "status", "detail", "code", "requestId"]),
      );
      expect(body.status).toBe(res.status);
      ids.add(body.requestId);
    }
    expect(ids.size).toBe(responses.length);
  });

  it("a success carries X-Request-Id too", async () => {
    const res = await api("/api/v1/contacts", { key });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/\S/);
  });

  it("a caller-supplied X-Request-Id is echoed in the problem", async () => {
    const res = await api("/nope", { headers: { "x-request-id": "trace-42" } });
    expect((await problem(res)).requestId).toBe("trace-42");
  });
});
