import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  OAUTH_PRUNE_PAGE,
  OAUTH_RETENTION_MS,
  pruneOAuth,
  TOKEN_LOG_RETENTION_MS,
} from "../../src/acme/oauth/retention.ts";
import { appAndUser, connect, listContacts, refresh, tokenLog } from "./oauth-support.ts";

const count = async (table: string) =>
  (await env.ACME_DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())?.n ?? 0;

describe("retention of the OAuth tables", () => {
  it("deletes only what is past its horizon: spent refresh tokens, expired codes, revoked grants with their tokens, old log entries", async () => {
    const live = await appAndUser();
    const tokens = await connect(live);
    const rotated = await (await refresh(live.app, tokens.refresh_token)).json<{ refresh_token: string }>();
    const revoked = await appAndUser();
    const gone = await connect(revoked);
    await refresh(revoked.app, gone.refresh_token);
    await refresh(revoked.app, gone.refresh_token); // a replay: the grant is revoked

    // Right now nothing is old enough.
    const before = { codes: await count("oauth_codes"), tokens: await count("oauth_refresh_tokens") };
    expect(await pruneOAuth(env.ACME_DB)).toEqual({ codes: 0, refreshTokens: 0, grants: 0, tokenLog: 0 });
    expect(await count("oauth_codes")).toBe(before.codes);

    const later = Date.now() + OAUTH_RETENTION_MS + 60_000;
    const pruned = await pruneOAuth(env.ACME_DB, later);
    expect(pruned.codes).toBeGreaterThanOrEqual(2);
    expect(pruned.grants).toBeGreaterThanOrEqual(1);
    expect(pruned.tokenLog).toBeGreaterThanOrEqual(5);
    // The live grant's current refresh token stays, and still works; its spent one is gone.
    const live2 = await refresh(live.app, rotated.refresh_token);
    expect(live2.status).toBe(200);
    expect((await listContacts((await live2.json<{ access_token: string }>()).access_token)).status).toBe(
      200,
    );
    const spent = await refresh(live.app, tokens.refresh_token);
    expect((await spent.json<{ error: string }>()).error).toBe("invalid_grant");
    expect(await count("oauth_grants WHERE revoked_at IS NOT NULL AND revoked_at < '2000'")).toBe(0);
    expect(TOKEN_LOG_RETENTION_MS).toBeLessThan(OAUTH_RETENTION_MS);
    expect((await tokenLog(live.app)).length).toBeGreaterThan(0);
  });

  it("deletes at most one page per kind per run", async () => {
    const old = new Date(Date.now() - OAUTH_RETENTION_MS - 86_400_000).toISOString();
    const rows = OAUTH_PRUNE_PAGE + 50;
    await env.ACME_DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
       INSERT INTO oauth_token_log (id, app_client_id, at, grant_type, outcome)
       SELECT 'old_' || i, 'app_x', ?, 'refresh_token', 'issued' FROM n`,
    )
      .bind(old)
      .run();
    expect((await pruneOAuth(env.ACME_DB)).tokenLog).toBe(OAUTH_PRUNE_PAGE);
    expect((await pruneOAuth(env.ACME_DB)).tokenLog).toBe(50);
  });
});

describe("token rate limits of apps", () => {
  it("count no token unit for an app's refreshes, so one app can refresh for many accounts", async () => {
    const connected = await appAndUser();
    let token = (await connect(connected)).refresh_token;
    // A token limit of 2 a minute under the app's id: counted, it would refuse the third refresh.
    await env.ACME_LIMITER.get(env.ACME_LIMITER.idFromName(connected.app.client_id)).setOverrides({
      token: { limit: 2, windowSeconds: 60 },
    });
    for (let i = 0; i < 10; i += 1) {
      const res = await refresh(connected.app, token);
      expect(res.status, `refresh ${i}`).toBe(200);
      token = (await res.json<{ refresh_token: string }>()).refresh_token;
    }
  });
});
