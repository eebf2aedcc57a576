import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { admin, expectProblem, newConnection } from "./helpers.ts";
import { insertOAuthConnection } from "./oauth-connection-helpers.ts";

interface PublicConnection {
  id: string;
  acmeClientId: string;
  method: string;
  endUserId: string | null;
  status: string;
  webhookUrl: string;
}

async function list(query = ""): Promise<PublicConnection[]> {
  const res = await admin(`/connections${query}`);
  expect(res.status).toBe(200);
  return (await res.json<{ data: PublicConnection[] }>()).data;
}

describe("GET /api/v1/admin/connections", () => {
  it("shows each connection's method, end user and status; a client-credentials one as before", async () => {
    const cc = await newConnection();
    const endUserId = `user_${crypto.randomUUID()}`;
    const oauth = await insertOAuthConnection({ endUserId, acmeAccountId: "cl_account_1" });
    const all = await list();
    expect(all.find((c) => c.id === cc.connectionId)).toMatchObject({
      method: "client_credentials",
      endUserId: null,
      status: "active",
    });
    expect(all.find((c) => c.id === oauth)).toMatchObject({
      acmeClientId: "cl_account_1",
      method: "oauth",
      endUserId,
      status: "active",
    });
    // No secret travels: no field of either names one, and the client secret's value is nowhere.
    // (Only this test's own rows: the list holds every file's connections, whose names and ids
    // may say anything.)
    const mine = all.filter((c) => c.id === cc.connectionId || c.id === oauth);
    expect(mine.flatMap((c) => Object.keys(c)).filter((key) => /secret|token/i.test(key))).toEqual([]);
    expect(JSON.stringify(mine)).not.toContain(cc.acmeClient.clientSecret);
  });

  it("?endUserId= returns only that end user's connections, by exact match", async () => {
    const endUserId = `user_${crypto.randomUUID()}`;
    const mine = [await insertOAuthConnection({ endUserId }), await insertOAuthConnection({ endUserId })];
    await insertOAuthConnection({ endUserId: `${endUserId}x` });
    await insertOAuthConnection({ endUserId: endUserId.toUpperCase() });
    const found = await list(`?endUserId=${encodeURIComponent(endUserId)}`);
    expect(found.map((c) => c.id)).toEqual([...mine].sort());
    expect(await list(`?endUserId=${encodeURIComponent(`nobody_${crypto.randomUUID()}`)}`)).toEqual([]);
  });

  it("shows needs_reauth as D1 holds it", async () => {
    const endUserId = `user_${crypto.randomUUID()}`;
    const id = await insertOAuthConnection({ endUserId });
    await env.DB.prepare("UPDATE connections SET status = 'needs_reauth' WHERE id = ?").bind(id).run();
    expect((await list(`?endUserId=${endUserId}`))[0]?.status).toBe("needs_reauth");
  });

  it.each([
    ["empty", ""],
    ["too long", "u".repeat(201)],
    ["with a space", "user 1"],
    ["not ASCII", "usér"],
    ["a control character", "user\u0001"],
  ])("refuses an endUserId that is %s with 400 naming the field", async (_name, value) => {
    const problem = await expectProblem(
      await admin(`/connections?endUserId=${encodeURIComponent(value)}`),
      400,
      "validation_failed",
    );
    expect(problem.errors?.map((e) => e.field)).toContain("endUserId");
  });

  it("needs the admin token", async () => {
    await expectProblem(await admin("/connections?endUserId=user_1", { token: null }), 401, "unauthorized");
  });
});
