import { env } from "cloudflare:test";
import { sign } from "hono/jwt";
import { describe, expect, it, vi } from "vitest";
import { operatorCookieKey } from "../../../src/integration/console/operator-cookie.ts";
import { admin } from "../helpers.ts";
import { COOKIE_NAME, consoleFetch, postForm, sessionCookieFrom, signIn } from "./helpers.ts";

/** Every console page and action; each must send a browser without a session to sign in. */
const CONSOLE_ROUTES: [method: string, path: string][] = [
  ["GET", "/console"],
  ["GET", "/console/connections"],
  ["GET", "/console/connections/table"],
  ["POST", "/console/connections"],
  ["GET", "/console/connections/conn_x"],
  ["POST", "/console/connections/conn_x/api-keys"],
  ["POST", "/console/connections/conn_x/api-keys/key_x/revoke"],
  ["POST", "/console/connections/conn_x/webhook-subscription"],
  ["GET", "/console/connections/conn_x/charts"],
  ["GET", "/console/connections/conn_x/charts/figures"],
  ["GET", "/console/connections/conn_x/jobs"],
  ["GET", "/console/connections/conn_x/jobs/table"],
  ["POST", "/console/connections/conn_x/jobs/import"],
  ["GET", "/console/connections/conn_x/jobs/job_x"],
  ["GET", "/console/connections/conn_x/jobs/job_x/progress"],
  ["POST", "/console/connections/conn_x/jobs/job_x/cancel"],
  ["GET", "/console/connections/conn_x/feed"],
  ["GET", "/console/connections/conn_x/feed/updates?after=0"],
  ["GET", "/console/connections/conn_x/destinations"],
  ["POST", "/console/connections/conn_x/destinations"],
  ["GET", "/console/connections/conn_x/destinations/dst_x"],
  ["GET", "/console/connections/conn_x/destinations/dst_x/log"],
  ["POST", "/console/connections/conn_x/destinations/dst_x/disable"],
  ["POST", "/console/connections/conn_x/destinations/dst_x/enable"],
  ["POST", "/console/connections/conn_x/destinations/dst_x/rotate-secret"],
  ["GET", "/console/connections/conn_x/destinations/dst_x/delete"],
  ["POST", "/console/connections/conn_x/destinations/dst_x/delete"],
  ["POST", "/console/connections/conn_x/destinations/dst_x/deliveries/dlv_x/retry"],
  ["POST", "/console/connections/conn_x/destinations/dst_x/recover"],
  ["GET", "/console/connections/conn_x/webhooks"],
  ["GET", "/console/connections/conn_x/webhooks/wh_x"],
  ["POST", "/console/connections/conn_x/webhooks/wh_x/deliveries/dlv_x/retry"],
  ["GET", "/console/dead-letters"],
  ["POST", "/console/dead-letters/dl_x/replay"],
  ["POST", "/console/sign-out"],
  ["GET", "/console/no-such-page"],
];

async function craftedCookie(claims: Record<string, unknown>, key?: string): Promise<string> {
  return sign(claims, key ?? (await operatorCookieKey(env.ADMIN_TOKEN)), "HS256");
}

const now = () => Math.floor(Date.now() / 1000);

describe("console sign-in", () => {
  it("gives the admin token an HttpOnly, Secure, SameSite=Strict session cookie with an expiry", async () => {
    const res = await consoleFetch("/console/sign-in", {
      form: { token: env.ADMIN_TOKEN, next: "/console/dead-letters" },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console/dead-letters");
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE_NAME}=`)) ?? "";
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).toMatch(/; Max-Age=28800/);
    expect(setCookie).not.toContain(env.ADMIN_TOKEN);
    const page = await consoleFetch("/console/dead-letters", { cookie: sessionCookieFrom(res) });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<h1>Dead letters</h1>");
  });

  it("refuses a wrong token with an error page and no cookie, echoing neither token", async () => {
    const wrong = `${env.ADMIN_TOKEN.slice(0, -4)}abcd`;
    const res = await consoleFetch("/console/sign-in", { form: { token: wrong } });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie()).toEqual([]);
    const html = await res.text();
    expect(html).toContain("not the integration");
    expect(html).not.toContain(wrong);
    expect(html).not.toContain(env.ADMIN_TOKEN);
    const empty = await consoleFetch("/console/sign-in", { form: { token: "" } });
    expect(empty.status).toBe(401);
    expect(empty.headers.getSetCookie()).toEqual([]);
  });

  it("writes neither the admin token nor a wrong one to the log", async () => {
    const wrong = `wrong-${crypto.randomUUID()}`;
    const spies = (["log", "warn", "error"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation(() => {}),
    );
    try {
      expect((await consoleFetch("/console/sign-in", { form: { token: wrong } })).status).toBe(401);
      expect((await consoleFetch("/console/sign-in", { form: { token: env.ADMIN_TOKEN } })).status).toBe(303);
      const written = spies.flatMap((spy) => spy.mock.calls.map((args) => args.map(String).join(" ")));
      expect(written.some((line) => line.includes("console sign-in refused"))).toBe(true);
      for (const line of written) {
        expect(line).not.toContain(wrong);
        expect(line).not.toContain(env.ADMIN_TOKEN);
      }
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it("goes only to console paths after sign-in (no open redirect)", async () => {
    for (const next of ["https://evil.example/", "//evil.example", "/console/../acme", "/api/v1/status"]) {
      const res = await consoleFetch("/console/sign-in", { form: { token: env.ADMIN_TOKEN, next } });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/console/connections");
    }
  });

  it("serves the sign-in page with a labelled token field, no-store and a strict CSP", async () => {
    const res = await consoleFetch("/console/sign-in");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const html = await res.text();
    expect(html).toContain('<label for="token">Admin token</label>');
    expect(html).toContain('id="token" name="token" type="password"');
  });
});

describe("console without a valid session", () => {
  it("sends every console route to sign-in", async () => {
    for (const [method, path] of CONSOLE_ROUTES) {
      const res = await consoleFetch(path, { method, cookie: null });
      expect(res.status, `${method} ${path}`).toBe(303);
      expect(res.headers.get("location"), `${method} ${path}`).toMatch(/^\/console\/sign-in/);
    }
  });

  it("tells htmx to move the whole page to sign-in instead of swapping a fragment", async () => {
    const res = await consoleFetch("/console/connections/table", { headers: { "HX-Request": "true" } });
    expect(res.status).toBe(204);
    expect(res.headers.get("hx-redirect")).toBe("/console/sign-in?next=%2Fconsole%2Fconnections%2Ftable");
  });

  it("refuses forged, expired, expiry-less and unsigned cookies, and clears them", async () => {
    const claims = { sub: "operator", jti: "a".repeat(22), csrf: "b".repeat(32), iat: now() - 10 };
    const forged = await craftedCookie(
      { ...claims, exp: now() + 3600 },
      "not-the-derived-key-at-all-0123456789",
    );
    const expired = await craftedCookie({ ...claims, iat: now() - 7200, exp: now() - 60 });
    const noExpiry = await craftedCookie(claims);
    const wrongSubject = await craftedCookie({ ...claims, sub: "someone", exp: now() + 3600 });
    const header = btoa(JSON.stringify({ alg: "none", typ: "JWT" })).replace(/=+$/, "");
    const payload = btoa(JSON.stringify({ ...claims, exp: now() + 3600 })).replace(/=+$/, "");
    const unsigned = `${header}.${payload}.`;
    const signedWithToken = await craftedCookie({ ...claims, exp: now() + 3600 }, env.ADMIN_TOKEN);
    for (const [name, cookie] of Object.entries({
      forged,
      expired,
      noExpiry,
      wrongSubject,
      unsigned,
      signedWithToken,
    })) {
      const res = await consoleFetch("/console/connections", { cookie });
      expect(res.status, name).toBe(303);
      expect(res.headers.get("location"), name).toBe("/console/sign-in?next=%2Fconsole%2Fconnections");
      expect(res.headers.getSetCookie().join(), name).toMatch(new RegExp(`${COOKIE_NAME}=; Max-Age=0`));
    }
    // The same claims, properly signed and unexpired, are accepted: the refusals above are for the flaw.
    const valid = await craftedCookie({ ...claims, exp: now() + 3600 });
    expect((await consoleFetch("/console/connections", { cookie: valid })).status).toBe(200);
  });

  it("refuses the cookie after sign-out, even a copy kept elsewhere", async () => {
    const session = await signIn();
    const out = await postForm(session, "/console/sign-out");
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/console/sign-in?signedOut=1");
    expect(out.headers.getSetCookie().join()).toMatch(new RegExp(`${COOKIE_NAME}=; Max-Age=0`));
    const again = await consoleFetch("/console/connections", { cookie: session.cookie });
    expect(again.status).toBe(303);
  });
});

describe("console CSRF protection", () => {
  it("refuses a cross-site form post, and nothing is created", async () => {
    const session = await signIn();
    const name = `cross-site-${crypto.randomUUID()}`;
    const form = { _csrf: session.csrf, name, acmeClientId: "c", acmeClientSecret: "s" };
    const crossSite = await consoleFetch("/console/connections", {
      cookie: session.cookie,
      form,
      origin: "https://evil.example",
      headers: { "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.text()).toContain("sent from another site");
    const noOrigin = await consoleFetch("/console/connections", {
      cookie: session.cookie,
      form,
      origin: null,
    });
    expect(noOrigin.status).toBe(403);
    const list = await (await admin("/connections")).json<{ data: { name: string }[] }>();
    expect(list.data.some((c) => c.name === name)).toBe(false);
  });

  it("refuses a same-origin post without the session's CSRF token", async () => {
    const session = await signIn();
    const missing = await consoleFetch("/console/connections", {
      cookie: session.cookie,
      form: { name: "x", acmeClientId: "c", acmeClientSecret: "s" },
    });
    expect(missing.status).toBe(403);
    const other = await signIn();
    const wrong = await consoleFetch("/console/sign-out", {
      cookie: session.cookie,
      form: { _csrf: other.csrf },
    });
    expect(wrong.status).toBe(403);
    // Still signed in: the refused sign-out changed nothing.
    expect((await consoleFetch("/console/connections", { cookie: session.cookie })).status).toBe(200);
  });
});
