import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createClient } from "../../acme/helpers.ts";
import { admin, api, untilJobsSettle } from "../helpers.ts";
import {
  CONNECT_BASE,
  connectionsOf,
  createSession,
  csrfOf,
  endUser,
  expectPage,
  formCookieOf,
  getPage,
  pathOf,
  postPage,
} from "./connect-helpers.ts";

/** Opens a client-credentials session's page: its path, the form's CSRF token and cookie. */
async function openForm(body: Record<string, unknown>) {
  const session = await createSession({ method: "client_credentials", ...body });
  const res = await getPage(pathOf(session));
  const html = await expectPage(res, 200);
  return { session, path: pathOf(session), csrf: csrfOf(html), cookie: formCookieOf(res) };
}

async function apiKeyFor(connectionId: string): Promise<string> {
  const res = await admin(`/connections/${connectionId}/api-keys`, { method: "POST" });
  return (await res.json<{ apiKey: string }>()).apiKey;
}

describe("the client-credentials connect form", () => {
  it("a wrong secret shows the form again with an error, creates nothing and leaves the link usable; the right one connects", async () => {
    const client = await createClient();
    const user = endUser("cc");
    const form = await openForm({ endUserId: user, redirectUrl: "https://app.example.com/done" });

    const wrong = await postPage(
      form.path,
      { _csrf: form.csrf, clientId: client.clientId, clientSecret: `${client.clientSecret}x` },
      form.cookie,
    );
    const html = await expectPage(wrong, 400);
    expect(html).toContain("did not accept");
    expect(html).toContain(client.clientId);
    expect(html).not.toContain(client.clientSecret);
    expect(await connectionsOf(user)).toEqual([]);
    await expectPage(await getPage(form.path), 200);

    const right = await postPage(
      form.path,
      { _csrf: form.csrf, clientId: client.clientId, clientSecret: client.clientSecret },
      form.cookie,
    );
    expect(right.status).toBe(303);
    const location = new URL(right.headers.get("location") ?? "");
    expect(`${location.origin}${location.pathname}`).toBe("https://app.example.com/done");
    const connectionId = location.searchParams.get("connectionId");
    const made = await connectionsOf(user);
    expect(made.map((c) => [c.id, c.method, c.acme_client_id, c.status])).toEqual([
      [connectionId, "client_credentials", client.clientId, "active"],
    ]);
    expect(made[0]?.acme_client_secret_enc).not.toContain(client.clientSecret);
    // Subscribed to Acme's webhooks, backfill started, and the link used up.
    const row = await env.DB.prepare("SELECT webhook_secret_enc FROM connections WHERE id = ?")
      .bind(connectionId)
      .first<{ webhook_secret_enc: string | null }>();
    expect(row?.webhook_secret_enc).toEqual(expect.any(String));
    const key = await apiKeyFor(connectionId ?? "");
    const jobs = await (await api("/api/v1/jobs?limit=10", { key })).json<{ data: { kind: string }[] }>();
    expect(jobs.data.map((j) => j.kind)).toContain("backfill");
    await untilJobsSettle(key);
    await expectPage(await getPage(form.path), 410);
    const replay = await postPage(
      form.path,
      { _csrf: form.csrf, clientId: client.clientId, clientSecret: client.clientSecret },
      form.cookie,
    );
    await expectPage(replay, 410);
    expect(await connectionsOf(user)).toHaveLength(1);
  });

  it("refuses a post without the cookie's CSRF token, or from another origin (403, nothing created)", async () => {
    const client = await createClient();
    const user = endUser("csrf");
    const form = await openForm({ endUserId: user });
    const fields = { clientId: client.clientId, clientSecret: client.clientSecret };
    await expectPage(await postPage(form.path, { ...fields, _csrf: form.csrf }), 403);
    await expectPage(await postPage(form.path, { ...fields, _csrf: "forged" }, form.cookie), 403);
    const other = await openForm({ endUserId: endUser() });
    await expectPage(await postPage(form.path, { ...fields, _csrf: other.csrf }, other.cookie), 403);
    const crossSite = await postPage(form.path, { ...fields, _csrf: form.csrf }, form.cookie).then(() =>
      // The same post with another Origin.
      fetchWithOrigin(form.path, { ...fields, _csrf: form.csrf }, form.cookie, "https://evil.example.com"),
    );
    expect(crossSite.status).toBe(403);
    expect(await connectionsOf(user)).toHaveLength(1);
  });

  it("refuses missing or malformed fields with the form again (400), the link still usable", async () => {
    const user = endUser("fields");
    const form = await openForm({ endUserId: user });
    for (const fields of [
      { clientId: "", clientSecret: "s" },
      { clientId: "c", clientSecret: "" },
      { clientId: "c".repeat(201), clientSecret: "s" },
      { clientId: "c\u0001", clientSecret: "s" },
    ]) {
      await expectPage(await postPage(form.path, { ...fields, _csrf: form.csrf }, form.cookie), 400);
    }
    expect(await connectionsOf(user)).toEqual([]);
    await expectPage(await getPage(form.path), 200);
  });

  it("repairs the session's connection in place: same id, new secret", async () => {
    const client = await createClient();
    const user = endUser("ccrepair");
    const first = await openForm({ endUserId: user });
    const made = await postPage(
      first.path,
      { _csrf: first.csrf, clientId: client.clientId, clientSecret: client.clientSecret },
      first.cookie,
    );
    expect(made.status).toBe(200);
    const [connection] = await connectionsOf(user);
    const again = await openForm({ endUserId: user, connectionId: connection?.id });
    const repaired = await postPage(
      again.path,
      { _csrf: again.csrf, clientId: client.clientId, clientSecret: client.clientSecret },
      again.cookie,
    );
    expect(repaired.status).toBe(200);
    const after = await connectionsOf(user);
    expect(after.map((c) => c.id)).toEqual([connection?.id]);
    expect(after[0]?.acme_client_secret_enc).not.toBe(connection?.acme_client_secret_enc);

    // Credentials of another account do not repair it: an error, the link still usable.
    const stranger = await createClient();
    const mismatch = await openForm({ endUserId: user, connectionId: connection?.id });
    const refused = await postPage(
      mismatch.path,
      { _csrf: mismatch.csrf, clientId: stranger.clientId, clientSecret: stranger.clientSecret },
      mismatch.cookie,
    );
    await expectPage(refused, 400);
    expect((await connectionsOf(user)).map((c) => [c.id, c.acme_client_id])).toEqual([
      [connection?.id, client.clientId],
    ]);
    await expectPage(await getPage(mismatch.path), 200);
  });
});

function fetchWithOrigin(path: string, form: Record<string, string>, cookie: string, origin: string) {
  return import("cloudflare:test").then(({ SELF }) =>
    SELF.fetch(`${CONNECT_BASE}${path}`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin, cookie },
      body: new URLSearchParams(form),
    }),
  );
}
