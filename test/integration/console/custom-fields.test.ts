import { beforeAll, describe, expect, it } from "vitest";
import { archiveProperty, defineProperties, mapFields } from "../custom-field-helpers.ts";
import { api, newConnection, type TestConnection } from "../helpers.ts";
import { consoleFetch, postForm, type SignedIn, signIn } from "./helpers.ts";

let session: SignedIn;
let connection: TestConnection;

beforeAll(async () => {
  session = await signIn();
  connection = await newConnection();
  await defineProperties(connection, [
    { name: "contract_tier", label: "Contract tier", type: "enumeration", options: ["silver", "gold"] },
    { name: "seats", label: "Seats", type: "number" },
    { name: "old_code", label: "Old code", type: "string" },
  ]);
  await archiveProperty(connection, "old_code");
});

const path = () => `/console/connections/${connection.connectionId}/custom-fields`;

async function page(): Promise<string> {
  const res = await consoleFetch(path(), { cookie: session.cookie });
  expect(res.status).toBe(200);
  return res.text();
}

async function mappingOf(key: string) {
  return (await api("/api/v1/field-mappings", { key })).json<{
    customFields: Record<string, { remote: string }>;
  }>();
}

describe("the console's custom-fields page", () => {
  it("lists the Acme properties live, with their types and status, the mapping as stored, and the contact's schema", async () => {
    await mapFields(connection.apiKey, { tier: { remote: "contract_tier" } });
    const html = await page();
    expect(html).toContain('aria-current="page">Custom fields');
    expect(html).toMatch(
      /<tr data-remote="contract_tier">[\s\S]*?enumeration[\s\S]*?silver, gold[\s\S]*?live/,
    );
    expect(html).toMatch(/<tr data-remote="old_code">[\s\S]*?archived[\s\S]*?disabled/);
    expect(html).toMatch(/name="field\.contract_tier" value="tier"/);
    expect(html).toMatch(/name="field\.seats" value=""/);
    const schema = /<pre id="contact-schema"><code>([\s\S]*?)<\/code><\/pre>/.exec(html)?.[1] ?? "";
    expect(schema).toContain("&quot;tier&quot;");
    expect(schema).toContain("&quot;gold&quot;");
  });

  it("saves a mapping from the form (blank rows map nothing), which the API then serves", async () => {
    const res = await postForm(session, path(), {
      "field.contract_tier": "plan",
      "field.seats": " seatCount ",
      "field.old_code": "",
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`${path()}?saved=1`);
    expect(await mappingOf(connection.apiKey)).toEqual({
      customFields: { plan: { remote: "contract_tier" }, seatCount: { remote: "seats" } },
    });
    const html = await page();
    expect(html).toMatch(/name="field\.seats" value="seatCount"/);
  });

  it("refuses a bad name, a name on two rows and a contact field's name on their rows, keeping what was typed and changing nothing", async () => {
    await mapFields(connection.apiKey, { tier: { remote: "contract_tier" } });
    for (const [form, status, remote] of [
      [{ "field.contract_tier": "Tier", "field.seats": "" }, 400, "contract_tier"],
      [{ "field.contract_tier": "same", "field.seats": "same" }, 400, "seats"],
      [{ "field.contract_tier": "email", "field.seats": "" }, 400, "contract_tier"],
      [{ "field.contract_tier": "tier", "field.old_code": "oldCode" }, 422, "old_code"],
    ] as const) {
      const res = await postForm(session, path(), form);
      expect(res.status).toBe(status);
      const html = await res.text();
      expect(html).toContain("The mapping was not saved");
      expect(html).toMatch(new RegExp(`id="field\\.${remote}-error"`));
      expect(await mappingOf(connection.apiKey)).toEqual({
        customFields: { tier: { remote: "contract_tier" } },
      });
    }
  });

  it("needs a signed-in operator and the CSRF token; an unknown connection is 404", async () => {
    expect((await consoleFetch(path())).status).toBe(303);
    const forged = await consoleFetch(path(), { cookie: session.cookie, form: { "field.seats": "x" } });
    expect(forged.status).toBe(403);
    const missing = await consoleFetch("/console/connections/conn_nope/custom-fields", {
      cookie: session.cookie,
    });
    expect(missing.status).toBe(404);
  });
});
