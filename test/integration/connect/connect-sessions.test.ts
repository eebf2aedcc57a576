import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app.ts";
import { mintConnectToken } from "../../../src/integration/connect/connect-tokens.ts";
import {
  CONNECT_SESSION_RETENTION_MS,
  pruneConnectSessions,
} from "../../../src/integration/connect/session-store.ts";
import { sha256Hex } from "../../../src/lib/crypto.ts";
import { countOperations } from "../../budget/count-operations.ts";
import { admin, BASE, errorFields, expectProblem, newConnection } from "../helpers.ts";
import { insertOAuthConnection } from "../oauth-connection-helpers.ts";
import {
  CONNECT_BASE,
  createSession,
  endUser,
  expectPage,
  getPage,
  pathOf,
  sessionCount,
} from "./connect-helpers.ts";

describe("POST /api/v1/admin/connect-sessions", () => {
  it("creates a single-use link to the hosted page, valid for 30 minutes, its secrets stored only hashed or sealed", async () => {
    const before = Date.now();
    const user = endUser("first");
    const res = await admin("/connect-sessions", {
      method: "POST",
      body: { endUserId: user, redirectUrl: "https://app.example.com/done?x=1" },
    });
    expect(res.status).toBe(201);
    const body = await res.json<{ token: string; url: string; expiresAt: string }>();
    expect(body.token).toMatch(/^cst_[A-Za-z0-9_-]{43}[0-9a-f]{12}$/);
    expect(body.url).toBe(`${BASE}/connect/${body.token}`);
    const expires = Date.parse(body.expiresAt);
    expect(expires - before).toBeGreaterThanOrEqual(1800_000 - 1000);
    expect(expires - Date.now()).toBeLessThanOrEqual(1800_000);

    const rows = await env.DB.prepare("SELECT * FROM connect_sessions WHERE end_user_id = ?")
      .bind(user)
      .all();
    const stored = JSON.stringify(rows.results);
    expect(rows.results).toHaveLength(1);
    expect(stored).not.toContain(body.token);
    expect(stored).not.toContain(body.token.slice(4, 40));
    const row = rows.results[0] as Record<string, unknown>;
    expect(row.method).toBe("oauth");
    expect(row.redirect_url).toBe("https://app.example.com/done?x=1");
    expect(row.code_verifier_enc).toEqual(expect.any(String));
    expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.state_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("takes a client-credentials session and one repairing a connection of the same method", async () => {
    const user = endUser();
    const id = await insertOAuthConnection({ endUserId: user });
    await createSession({ endUserId: user, method: "oauth", connectionId: id });
    const cc = await createSession({ endUserId: user, method: "client_credentials" });
    expect(cc.token).toMatch(/^cst_/);
  });

  const badRedirects: [string, string][] = [
    ["javascript:", "javascript:alert(document.cookie)"],
    ["data:", "data:text/html,<script>alert(1)</script>"],
    ["protocol-relative", "//evil.example.com/x"],
    ["relative", "/connect/done"],
    ["plain http outside local dev", "http://evil.example.com/done"],
    ["loopback outside local dev", "http://127.0.0.1:3000/done"],
    ["https loopback outside local dev", "https://localhost/done"],
    ["userinfo", "https://app.example.com@evil.example.com/"],
    ["credentials", "https://user:pw@app.example.com/"],
    ["backslashes", "https:\\\\evil.example.com"],
    ["a scheme without slashes", "https:evil.example.com"],
    ["a leading space", " https://app.example.com/"],
    ["a tab inside", "https://app.exa\tmple.com/"],
    ["over-long", `https://app.example.com/${"a".repeat(2000)}`],
    ["ftp", "ftp://app.example.com/"],
  ];
  for (const [name, redirectUrl] of badRedirects) {
    it(`refuses a redirectUrl that is ${name} (400 naming it, nothing stored)`, async () => {
      const before = await sessionCount();
      const res = await admin("/connect-sessions", {
        method: "POST",
        body: { endUserId: endUser(), redirectUrl },
      });
      const problem = await expectProblem(res, 400, "validation_failed");
      expect(errorFields(problem)).toEqual(["redirectUrl"]);
      expect(await sessionCount()).toBe(before);
    });
  }

  const badBodies: [string, Record<string, unknown>, string][] = [
    ["an empty endUserId", { endUserId: "" }, "endUserId"],
    ["an endUserId of 201 characters", { endUserId: "u".repeat(201) }, "endUserId"],
    ["an endUserId with a space", { endUserId: "user 1" }, "endUserId"],
    ["an endUserId with a control character", { endUserId: "user\u0000" }, "endUserId"],
    ["an endUserId that is not text", { endUserId: 4711 }, "endUserId"],
    ["no endUserId", {}, "endUserId"],
    ["another method", { endUserId: "u1", method: "password" }, "method"],
    ["an unknown field", { endUserId: "u1", scope: "contacts.read" }, ""],
    ["an empty connectionId", { endUserId: "u1", connectionId: "" }, "connectionId"],
  ];
  for (const [name, body, field] of badBodies) {
    it(`refuses ${name} (400, nothing stored)`, async () => {
      const before = await sessionCount();
      const res = await admin("/connect-sessions", { method: "POST", body });
      const problem = await expectProblem(res, 400, "validation_failed");
      if (field) expect(errorFields(problem)).toContain(field);
      expect(await sessionCount()).toBe(before);
    });
  }

  it("takes an endUserId of 1 and of 200 printable characters", async () => {
    await createSession({ endUserId: "u" });
    await createSession({ endUserId: `${"~".repeat(199)}!` });
  });

  it("refuses without the admin token (401) and a connectionId that does not exist (404)", async () => {
    await expectProblem(
      await admin("/connect-sessions", { method: "POST", body: { endUserId: "u1" }, token: null }),
      401,
      "unauthorized",
    );
    await expectProblem(
      await admin("/connect-sessions", {
        method: "POST",
        body: { endUserId: "u1", connectionId: "conn_nope" },
      }),
      404,
      "not_found",
    );
  });

  it("refuses to repair a connection of another method or another end user (409)", async () => {
    const { connectionId } = await newConnection();
    await expectProblem(
      await admin("/connect-sessions", { method: "POST", body: { endUserId: "u1", connectionId } }),
      409,
      "conflict",
    );
    const owned = await insertOAuthConnection({ endUserId: endUser("owner") });
    await expectProblem(
      await admin("/connect-sessions", {
        method: "POST",
        body: { endUserId: endUser("other"), connectionId: owned },
      }),
      409,
      "conflict",
    );
  });
});

describe("GET /connect/{token}", () => {
  it("an OAuth session's page keeps the product's end user id to itself and links to Acme's authorize page with state and an S256 challenge", async () => {
    const user = endUser("page");
    const session = await createSession({ endUserId: user });
    const html = await expectPage(await getPage(pathOf(session)), 200);
    // The end user id is the product's own name for its customer, not the customer's business.
    expect(html).not.toContain(user);
    expect(html).toContain("Connect your Acme account");
    const href = /id="continue" href="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, "&");
    expect(href).toBeDefined();
    const url = new URL(href ?? "");
    expect(`${url.origin}${url.pathname}`).toBe(`${CONNECT_BASE}/acme/oauth/authorize`);
    const q = url.searchParams;
    expect(q.get("response_type")).toBe("code");
    expect(q.get("client_id")).toBe(env.ACME_OAUTH_CLIENT_ID);
    expect(q.get("redirect_uri")).toBe(`${CONNECT_BASE}/connect/callback`);
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("scope")?.split(" ")).toContain("contacts.read");
    // The state and challenge are the session's, not made anew for each view; neither is the token.
    const again = await (await getPage(pathOf(session))).text();
    expect(again).toContain(q.get("state"));
    expect(href).not.toContain(session.token);
  });

  it("a client-credentials session's page is a form with a CSRF token bound to a cookie", async () => {
    const session = await createSession({ endUserId: endUser(), method: "client_credentials" });
    const res = await getPage(pathOf(session));
    const html = await expectPage(res, 200);
    expect(html).toContain('name="clientSecret"');
    expect(html).toMatch(/name="_csrf" value="[A-Za-z0-9_-]{43}"/);
    expect(res.headers.get("set-cookie")).toMatch(
      /__Host-connect_form=.*HttpOnly.*Secure|__Host-connect_form=.*Secure.*HttpOnly/i,
    );
  });

  it("a token never issued is 404; one minted by another deployment is 404 without reading D1", async () => {
    const unknown = await mintConnectToken(env.ID_TAG_KEY);
    await expectPage(await getPage(`/connect/${unknown}`), 404);
    await expectPage(await getPage("/connect/cst_short"), 404);

    const foreign = await mintConnectToken("A".repeat(43));
    const counter = countOperations(env);
    const res = await createApp().fetch(new Request(`${BASE}/connect/${foreign}`), counter.env);
    await expectPage(res, 404);
    expect(counter.counts.d1Queries).toBe(0);
  });

  it("a used or expired session is 410", async () => {
    const session = await createSession({ endUserId: endUser() });
    const hash = (
      await env.DB.prepare("SELECT id FROM connect_sessions ORDER BY created_at DESC LIMIT 1").first<{
        id: string;
      }>()
    )?.id;
    await env.DB.prepare("UPDATE connect_sessions SET used_at = ? WHERE id = ?").bind(Date.now(), hash).run();
    const used = await expectPage(await getPage(pathOf(session)), 410);
    expect(used).toContain("already used");

    const other = await createSession({ endUserId: endUser() });
    await env.DB.prepare("UPDATE connect_sessions SET expires_at = ? WHERE token_hash = ?")
      .bind(Date.now() - 1, await sha256Hex(other.token))
      .run();
    const expired = await expectPage(await getPage(pathOf(other)), 410);
    expect(expired).toContain("expired");
  });
});

describe("connect session retention", () => {
  it("the cron deletes sessions a day after they expired, used or not, and keeps the others", async () => {
    const now = Date.now();
    const ids = {
      old: `cses_old_${crypto.randomUUID()}`,
      oldUsed: `cses_oldu_${crypto.randomUUID()}`,
      recent: `cses_new_${crypto.randomUUID()}`,
    };
    const insert = (id: string, expiresAt: number, usedAt: number | null) =>
      env.DB.prepare(
        `INSERT INTO connect_sessions (id, token_hash, state_hash, method, end_user_id, created_at, expires_at, used_at)
         VALUES (?, ?, ?, 'oauth', 'retention', ?, ?, ?)`,
      )
        .bind(id, `t${id}`, `s${id}`, new Date(expiresAt - 1800_000).toISOString(), expiresAt, usedAt)
        .run();
    await insert(ids.old, now - CONNECT_SESSION_RETENTION_MS - 1000, null);
    await insert(
      ids.oldUsed,
      now - CONNECT_SESSION_RETENTION_MS - 60_000,
      now - CONNECT_SESSION_RETENTION_MS - 70_000,
    );
    await insert(ids.recent, now - CONNECT_SESSION_RETENTION_MS + 60_000, now - 3600_000);
    const { deleted } = await pruneConnectSessions(env.DB, now);
    expect(deleted).toBeGreaterThanOrEqual(2);
    const { results } = await env.DB.prepare(
      "SELECT id FROM connect_sessions WHERE end_user_id = 'retention'",
    ).all<{
      id: string;
    }>();
    expect(results.map((r) => r.id)).toEqual([ids.recent]);
  });

  it("is one of the integration's cron jobs", async () => {
    const { INTEGRATION_SCHEDULED_JOBS } = await import("../../../src/integration/background.ts");
    expect(Object.keys(INTEGRATION_SCHEDULED_JOBS)).toContain("integration connect-session retention");
  });
});
