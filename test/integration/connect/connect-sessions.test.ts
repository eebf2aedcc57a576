import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app.ts";
import { mintConnectToken } from "../../../src/integration/connect/connect-tokens.ts";
import { CONNECT_SESSION_RETENTION_MS } from "../../../src/integration/connect/session-object.ts";
import { countOperations } from "../../budget/count-operations.ts";
import { admin, BASE, errorFields, expectProblem, newConnection } from "../helpers.ts";
import { insertOAuthConnection } from "../oauth-connection-helpers.ts";
import {
  CONNECT_BASE,
  createSession,
  endUser,
  expectPage,
  getPage,
  patchSession,
  pathOf,
  runSessionAlarm,
  sessionAlarm,
  sessionCount,
  storedSession,
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

    const row = await storedSession(body.token);
    expect(row).toMatchObject({ endUserId: user, usedAt: null });
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(body.token);
    expect(stored).not.toContain(body.token.slice(4, 40));
    expect(row?.method).toBe("oauth");
    expect(row?.redirectUrl).toBe("https://app.example.com/done?x=1");
    expect(row?.codeVerifierEnc).toEqual(expect.any(String));
    expect(row?.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.stateHash).toMatch(/^[0-9a-f]{64}$/);
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

  it("a token never issued is 404; one minted by another deployment is 404 without reading any storage", async () => {
    const unknown = await mintConnectToken(env.ID_TAG_KEY);
    await expectPage(await getPage(`/connect/${unknown}`), 404);
    await expectPage(await getPage("/connect/cst_short"), 404);

    const foreign = await mintConnectToken("A".repeat(43));
    const counter = countOperations(env);
    const res = await createApp().fetch(new Request(`${BASE}/connect/${foreign}`), counter.env);
    await expectPage(res, 404);
    expect(counter.counts.d1Queries).toBe(0);
    expect(counter.counts.durableObjectCalls).toBe(0);
  });

  it("a used or expired session is 410", async () => {
    const session = await createSession({ endUserId: endUser() });
    await patchSession(session.token, { usedAt: Date.now() });
    const used = await expectPage(await getPage(pathOf(session)), 410);
    expect(used).toContain("already used");

    const other = await createSession({ endUserId: endUser() });
    await patchSession(other.token, { expiresAt: Date.now() - 1 });
    const expired = await expectPage(await getPage(pathOf(other)), 410);
    expect(expired).toContain("expired");
  });
});

describe("connect session retention", () => {
  it("each session's object sets its alarm a day after the session expires, and the alarm deletes it", async () => {
    const session = await createSession({ endUserId: endUser() });
    const row = await storedSession(session.token);
    expect(row).not.toBeNull();
    expect(await sessionAlarm(session.token)).toBe((row?.expiresAt ?? 0) + CONNECT_SESSION_RETENTION_MS);
    await runSessionAlarm(session.token);
    expect(await storedSession(session.token)).toBeNull();
    await expectPage(await getPage(pathOf(session)), 404);
  });
});
