import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app.ts";
import { loadIntegrationConfig } from "../../../src/integration/config.ts";
import { verifierContext } from "../../../src/integration/connect/session-store.ts";
import { setConnectionStatus } from "../../../src/integration/connections/connection-store.ts";
import { createClient, tokenFor, uniqueEmail } from "../../acme/helpers.ts";
import { approveAuthorization, createAccountUser } from "../../acme/oauth-helpers.ts";
import { countOperations, describeCounts, expectWithinBudget } from "../../budget/count-operations.ts";
import { admin, api, untilJobsSettle } from "../helpers.ts";
import {
  authorizeHrefOf,
  CONNECT_BASE,
  connectionsOf,
  createSession,
  endUser,
  ensureProductApp,
  expectPage,
  getPage,
  localPath,
  patchSession,
  pathOf,
  storedSession,
} from "./connect-helpers.ts";

const PASSWORD = "correct horse battery";
const REDIRECT = "https://app.example.com/acme/done";
const config = loadIntegrationConfig(env);

/** A fresh Acme account with one contact and a user who can sign in. */
async function newAccount() {
  const client = await createClient();
  const email = uniqueEmail("owner");
  await createAccountUser(SELF.fetch.bind(SELF), client.clientId, { email, password: PASSWORD });
  const token = await tokenFor(client);
  const contact = await SELF.fetch(`${CONNECT_BASE}/acme/v1/contacts`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      acme_first_name: "Ada",
      acme_last_name: "Lovelace",
      acme_email: uniqueEmail("ada"),
    }),
  });
  expect(contact.status).toBe(201);
  return { client, email, contactId: (await contact.json<{ id: string }>()).id };
}

/**
 * Runs a connect session to Acme's decision: creates it, opens its page, signs in at Acme and
 * approves (or denies). Returns the session, the callback path (with code and state) and the
 * authorize URL.
 */
async function toCallback(
  session: Record<string, unknown>,
  account: { email: string },
  decision: "approve" | "deny" = "approve",
) {
  await ensureProductApp();
  const created = await createSession(session);
  const html = await expectPage(await getPage(pathOf(created)), 200);
  const authorize = authorizeHrefOf(html);
  const location = await approveAuthorization(SELF.fetch.bind(SELF), authorize, {
    email: account.email,
    password: PASSWORD,
    decision,
  });
  expect(location.startsWith(`${CONNECT_BASE}/connect/callback?`)).toBe(true);
  return { session: created, callback: localPath(location), authorize };
}

/**
 * Where the callback's page sends the browser on (its meta refresh, the same as its link): a 200
 * page, no HTTP redirect (Acme's form-action would block one to the product's origin).
 */
async function redirectParams(res: Response): Promise<URLSearchParams> {
  expect(res.headers.get("location")).toBeNull();
  const html = await expectPage(res, 200);
  const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)"/
    .exec(html)?.[1]
    ?.replace(/&amp;/g, "&");
  const link = /id="continue-to-app" href="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, "&");
  expect(refresh).toBe(link);
  const location = new URL(refresh ?? "");
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
  return location.searchParams;
}

async function apiKeyFor(connectionId: string): Promise<string> {
  const res = await admin(`/connections/${connectionId}/api-keys`, { method: "POST" });
  expect(res.status).toBe(201);
  return (await res.json<{ apiKey: string }>()).apiKey;
}

describe("GET /connect/callback", () => {
  it("exchanges the code, creates the OAuth connection, subscribes and backfills it, then redirects with its id", async () => {
    const account = await newAccount();
    const user = endUser("oauth");
    const { session, callback } = await toCallback({ endUserId: user, redirectUrl: REDIRECT }, account);
    const res = await getPage(callback);
    const connectionId = (await redirectParams(res)).get("connectionId");
    const [made, ...others] = await connectionsOf(user);
    expect(others).toEqual([]);
    expect([
      made?.id,
      made?.method,
      made?.acme_client_id,
      made?.status,
      made?.acme_client_secret_enc,
    ]).toEqual([connectionId, "oauth", account.client.clientId, "active", null]);
    const row = await env.DB.prepare(
      "SELECT webhook_secret_enc, webhook_subscription_id FROM connections WHERE id = ?",
    )
      .bind(connectionId)
      .first<{ webhook_secret_enc: string | null; webhook_subscription_id: string | null }>();
    expect(row?.webhook_subscription_id).toEqual(expect.any(String));
    const key = await apiKeyFor(connectionId ?? "");
    const jobs = await (await api("/api/v1/jobs?limit=10", { key })).json<{ data: { kind: string }[] }>();
    expect(jobs.data.map((j) => j.kind)).toEqual(["backfill"]);
    await untilJobsSettle(key);
    const read = await api(`/api/v1/contacts/${account.contactId}`, { key });
    expect(read.status).toBe(200);

    // Used up: the page is 410 and the callback replayed (same state and code) a 400 page.
    await expectPage(await getPage(pathOf(session)), 410);
    await expectPage(await getPage(callback), 400);
    expect(await connectionsOf(user)).toHaveLength(1);
  });

  it("without a redirectUrl ends on a page of its own", async () => {
    const account = await newAccount();
    const user = endUser("page");
    const { callback } = await toCallback({ endUserId: user }, account);
    const html = await expectPage(await getPage(callback), 200);
    expect(html).toContain("connected");
    expect(await connectionsOf(user)).toHaveLength(1);
  });

  it("a denial at Acme redirects with error=access_denied and creates nothing; the state is then used", async () => {
    const account = await newAccount();
    const user = endUser("deny");
    const { callback } = await toCallback({ endUserId: user, redirectUrl: REDIRECT }, account, "deny");
    expect(callback).toContain("error=access_denied");
    expect((await redirectParams(await getPage(callback))).get("error")).toBe("access_denied");
    expect(await connectionsOf(user)).toEqual([]);
    await expectPage(await getPage(callback), 400);

    // Without a redirectUrl: a 400 page saying so.
    const other = await toCallback({ endUserId: endUser("deny2") }, account, "deny");
    expect(await expectPage(await getPage(other.callback), 400)).toContain("declined");
  });

  it("a forged, missing or over-long state is a 400 page and creates nothing", async () => {
    const before = await env.DB.prepare("SELECT count(*) AS n FROM connections").first<{ n: number }>();
    for (const query of ["?state=forged&code=abc", "?code=abc", `?state=${"s".repeat(201)}&code=abc`, ""]) {
      const res = await getPage(`/connect/callback${query}`);
      expect(res.headers.get("location")).toBeNull();
      await expectPage(res, 400);
    }
    const after = await env.DB.prepare("SELECT count(*) AS n FROM connections").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it("a code already exchanged (replayed) is refused by Acme: redirect with error=invalid_grant, nothing created", async () => {
    const account = await newAccount();
    const user = endUser("replay");
    const { session, callback } = await toCallback({ endUserId: user, redirectUrl: REDIRECT }, account);
    // Someone else exchanged the code first, with the session's own verifier (the worst case).
    const row = await storedSession(session.token);
    const verifier = await config.secretKeys.open(row?.codeVerifierEnc ?? "", verifierContext(row?.id ?? ""));
    const code = new URL(callback, CONNECT_BASE).searchParams.get("code") ?? "";
    const first = await SELF.fetch(`${CONNECT_BASE}/acme/oauth/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${btoa(`${env.ACME_OAUTH_CLIENT_ID}:${env.ACME_OAUTH_CLIENT_SECRET}`)}`,
      },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: `${CONNECT_BASE}/connect/callback`,
        code_verifier: verifier,
      }),
    });
    expect(first.status).toBe(200);
    expect((await redirectParams(await getPage(callback))).get("error")).toBe("invalid_grant");
    expect(await connectionsOf(user)).toEqual([]);
  });

  it("a verifier that does not match the challenge (PKCE) is refused: error=invalid_grant, nothing created", async () => {
    const account = await newAccount();
    const user = endUser("pkce");
    const { session, callback } = await toCallback({ endUserId: user, redirectUrl: REDIRECT }, account);
    const id = (await storedSession(session.token))?.id ?? "";
    const tampered = await config.secretKeys.seal("x".repeat(43), verifierContext(id));
    await patchSession(session.token, { codeVerifierEnc: tampered });
    expect((await redirectParams(await getPage(callback))).get("error")).toBe("invalid_grant");
    expect(await connectionsOf(user)).toEqual([]);
  });

  it("a session that expired before the user came back: error=session_expired, nothing created", async () => {
    const account = await newAccount();
    const user = endUser("late");
    const { session, callback } = await toCallback({ endUserId: user, redirectUrl: REDIRECT }, account);
    await patchSession(session.token, { expiresAt: Date.now() - 1 });
    expect((await redirectParams(await getPage(callback))).get("error")).toBe("session_expired");
    expect(await connectionsOf(user)).toEqual([]);
  });

  it("repairs a needs_reauth connection in place: same id, same API key, active again", async () => {
    const account = await newAccount();
    const user = endUser("repair");
    const first = await toCallback({ endUserId: user, redirectUrl: REDIRECT }, account);
    const connectionId = (await redirectParams(await getPage(first.callback))).get("connectionId") ?? "";
    const key = await apiKeyFor(connectionId);
    await untilJobsSettle(key);
    await setConnectionStatus(env.DB, connectionId, "needs_reauth");

    // A session naming the connection, then one only for the same end user and account.
    for (const body of [{ connectionId }, {}]) {
      const again = await toCallback({ endUserId: user, redirectUrl: REDIRECT, ...body }, account);
      expect((await redirectParams(await getPage(again.callback))).get("connectionId")).toBe(connectionId);
      const after = await connectionsOf(user);
      expect(after.map((c) => [c.id, c.status])).toEqual([[connectionId, "active"]]);
      const jobs = await (await api("/api/v1/jobs?limit=10", { key })).json<{ data: { kind: string }[] }>();
      expect(jobs.data.map((j) => j.kind)).toContain("reconcile");
      await untilJobsSettle(key);
      expect((await api(`/api/v1/contacts/${account.contactId}`, { key })).status).toBe(200);
    }

    // Another account approving for this connection does not take it over.
    const stranger = await newAccount();
    const mismatch = await toCallback({ endUserId: user, redirectUrl: REDIRECT, connectionId }, stranger);
    expect((await redirectParams(await getPage(mismatch.callback))).get("error")).toBe("account_mismatch");
    expect((await connectionsOf(user)).map((c) => [c.id, c.acme_client_id])).toEqual([
      [connectionId, account.client.clientId],
    ]);
  });
});

describe("the callback's budget", () => {
  it("a successful callback stays within a fixed count of D1 queries, object calls and Acme calls", async () => {
    const account = await newAccount();
    const user = endUser("budget");
    const { callback } = await toCallback({ endUserId: user, redirectUrl: REDIRECT }, account);
    const counter = countOperations(env);
    const app = createApp();
    const res = await app.fetch(
      new Request(`${CONNECT_BASE}${callback}`, { redirect: "manual" }),
      counter.env,
    );
    expect((await redirectParams(res)).get("connectionId")).toMatch(/^conn_/);
    const { counts } = counter;
    // Integration and the in-Worker Acme together: claim, create, grant, subscription (create,
    // store, re-read, list), backfill start, and Acme's own reads and writes for those calls.
    expect(counts.d1Queries, describeCounts(counts)).toBeLessThanOrEqual(24);
    expect(counts.durableObjectCalls, describeCounts(counts)).toBeLessThanOrEqual(12);
    expect(counts.workflowCalls, describeCounts(counts)).toBeLessThanOrEqual(2);
    expectWithinBudget(counts, { margin: 0.5 });
  });
});
