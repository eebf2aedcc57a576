import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { setConnectionStatus } from "../../../src/integration/connections/connection-store.ts";
import { healthVerdict } from "../../../src/integration/console/connection-health.ts";
import { endUser, sessionCount, storedSession } from "../connect/connect-helpers.ts";
import { BASE } from "../helpers.ts";
import { insertOAuthConnection } from "../oauth-connection-helpers.ts";
import { consoleFetch, postForm, signIn } from "./helpers.ts";

function linkOf(html: string): string {
  const match = /<output id="connect-link"[^>]*>([^<]+)<\/output>/.exec(html);
  if (!match?.[1]) throw new Error("no connect link on the page");
  return match[1];
}

describe("console: connect links and OAuth connections", () => {
  it("creates a connect link to copy, through the admin API's own route (stored, single use)", async () => {
    const session = await signIn();
    const user = endUser("console");
    const res = await postForm(session, "/console/connections/connect-links", {
      endUserId: user,
      method: "client_credentials",
      redirectUrl: "https://app.example.com/done",
    });
    expect(res.status).toBe(201);
    const link = linkOf(await res.text());
    expect(link).toMatch(new RegExp(`^${BASE}/connect/cst_`));
    const token = link.slice(link.lastIndexOf("/") + 1);
    expect(await storedSession(token)).toMatchObject({
      endUserId: user,
      method: "client_credentials",
      redirectUrl: "https://app.example.com/done",
    });
    const page = await consoleFetch(new URL(link).pathname);
    expect(page.status).toBe(200);
  });

  it("bad input shows the form again naming the field, and stores nothing", async () => {
    const session = await signIn();
    const before = await sessionCount();
    for (const [field, form] of [
      ["endUserId", { endUserId: "has space", method: "oauth" }],
      ["redirectUrl", { endUserId: "u1", method: "oauth", redirectUrl: "javascript:alert(1)" }],
    ] as const) {
      const res = await postForm(session, "/console/connections/connect-links", form);
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toContain(`id="link-${field}-error"`);
      expect(html).not.toContain('id="connect-link"');
    }
    expect(await sessionCount()).toBe(before);
  });

  it("shows method, end user and a needs_reauth badge, and a Reconnect action issuing a session that repairs it", async () => {
    const session = await signIn();
    const user = endUser("reauth");
    const id = await insertOAuthConnection({ endUserId: user, name: `Reauth ${user}` });
    await setConnectionStatus(env.DB, id, "needs_reauth");

    const list = await (
      await consoleFetch(`/console/connections?q=${encodeURIComponent(id)}`, { cookie: session.cookie })
    ).text();
    const row = list.slice(list.indexOf(`data-connection-id="${id}"`));
    expect(row).toContain('data-method="oauth"');
    expect(row).toContain(user);
    expect(row).toContain('data-status="needs_reauth"');
    expect(row).toContain('data-health="failing"');

    const overview = await (
      await consoleFetch(`/console/connections/${id}`, { cookie: session.cookie })
    ).text();
    expect(overview).toContain("Needs reauthorization");
    expect(overview).toContain(`action="/console/connections/${id}/reconnect"`);

    const res = await postForm(session, `/console/connections/${id}/reconnect`);
    expect(res.status).toBe(201);
    const link = linkOf(await res.text());
    const stored = await storedSession(link.slice(link.lastIndexOf("/") + 1));
    expect(stored).toMatchObject({ endUserId: user, method: "oauth", connectionId: id });
  });

  it("the health verdict of a connection needing reauthorization is failing and says so", () => {
    const status = {
      circuit: { state: "closed", recentFailures: 0 },
      token: null,
      tokenObtainedAt: "2026-01-01T00:00:00.000Z",
      tokenFailure: null,
    } as unknown as Parameters<typeof healthVerdict>[0]["status"];
    const inputs = { status, webhooksConfigured: true, lastSync: null };
    expect(healthVerdict({ ...inputs, needsReauth: true }).level).toBe("failing");
    expect(healthVerdict({ ...inputs, needsReauth: true }).reason).toContain("Needs reauthorization");
    expect(healthVerdict({ ...inputs, needsReauth: false }).level).toBe("healthy");
  });
});
