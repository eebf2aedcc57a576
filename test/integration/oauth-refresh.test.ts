import {
  createExecutionContext,
  env,
  runInDurableObject,
  SELF,
  waitOnExecutionContext,
} from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { AcmeClient } from "../../src/integration/acme-client/acme-client.ts";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { findConnection } from "../../src/integration/connections/connection-store.ts";
import { installOAuthGrant, refreshTokenContext } from "../../src/integration/connections/oauth-grant.ts";
import type { RequestStats } from "../../src/integration/request-stats.ts";
import type { StoredGrant, StoredTokenRecord } from "../../src/integration/session/acme-session.ts";
import { IsolateShare } from "../../src/integration/session/isolate-share.ts";
import { AHEAD_TTL_MS } from "../../src/integration/session/protocol.ts";
import { SessionLink } from "../../src/integration/session/session-link.ts";
import { acmeSessionStub } from "../../src/integration/session/session-stub.ts";
import { randomSecret } from "../../src/lib/ids.ts";
import { secretKeyId } from "../../src/lib/secret-box.ts";
import { ACME } from "../acme/helpers.ts";
import { admin, api, BASE, createContact, expectProblem, newConnection, person } from "./helpers.ts";
import {
  approvedGrant,
  appTokenRequest,
  ensureProductApp,
  grantIdOf,
  newOAuthConnection,
  type OAuthTestConnection,
  PRODUCT_APP,
  type TokenLogEntry,
  tokenLog,
} from "./oauth-connection-helpers.ts";

// An OAuth connection against the real in-Worker Acme, whose refresh tokens rotate and whose
// reuse detection revokes the grant: the refresh happens once per refresh token across isolates,
// a replayed token turns the connection needs_reauth (calls refused without reaching Acme), and
// a new grant repairs it in place.

const app = createApp();
const config = loadIntegrationConfig(env);

beforeAll(() => ensureProductApp());

/** Makes the session's access token look expired (Acme would still take it), as time would. */
async function expireAccessToken(connectionId: string): Promise<void> {
  await runInDurableObject(acmeSessionStub(env, connectionId), (_, state) => {
    const token = state.storage.kv.get<StoredTokenRecord>("token");
    if (!token) throw new Error("no access token stored");
    state.storage.kv.put<StoredTokenRecord>("token", { ...token, expiresAt: Date.now() - 1000 });
  });
}

/** The refresh token the session holds, opened (as someone reading the storage would get it). */
async function storedRefreshToken(connectionId: string): Promise<string> {
  const grant = await runInDurableObject(acmeSessionStub(env, connectionId), (_, state) =>
    state.storage.kv.get<StoredGrant>("grant"),
  );
  if (!grant) throw new Error("no refresh token stored");
  return config.secretKeys.open(grant.refreshToken, refreshTokenContext(connectionId));
}

/** The refresh requests in a token log, and whether any refresh token id appears twice. */
function refreshes(log: TokenLogEntry[]) {
  const entries = log.filter((entry) => entry.grant_type === "refresh_token");
  const ids = entries.map((entry) => entry.refresh_token_id);
  return { count: entries.length, repeated: ids.filter((id, i) => ids.indexOf(id) !== i) };
}

/**
 * An Acme client for the connection as a separate isolate has it: its own share of the session
 * (slots ahead, batches), the real session behind it, the in-Worker Acme.
 */
async function isolateClient(connectionId: string) {
  const connection = await findConnection(env.DB, connectionId);
  if (!connection) throw new Error("no connection");
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  return new AcmeClient({
    connection,
    session: new SessionLink(acmeSessionStub(env, connectionId), new IsolateShare(), { slotsAhead: true }),
    inProcess: (request) => Promise.resolve(app.fetch(request, env)),
    defaultBaseUrl: undefined,
    secretKeys: config.secretKeys,
    oauthApp: config.oauthApp,
    attemptTimeoutMs: config.acmeAttemptTimeoutMs,
    deadlineMs: 10_000,
    stats,
  });
}

/**
 * The attempts at Acme the connection's session has counted, once the reports still on their way
 * (successes travel in batches, sent BATCH_LINGER_MS after the response) have arrived.
 */
async function sessionCalls(apiKey: string): Promise<number> {
  const read = async () => {
    const res = await api("/api/v1/status", { key: apiKey });
    expect(res.status).toBe(200);
    return (await res.json<{ counters: { calls: number } }>()).counters.calls;
  };
  let calls = await read();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const now = await read();
    if (now === calls) return calls;
    calls = now;
  }
}

describe("an OAuth connection's refresh, against Acme's rotating refresh tokens", () => {
  let conn: OAuthTestConnection;
  beforeAll(async () => {
    conn = await newOAuthConnection();
  });

  it("works as any connection: reads and writes reach the approving user's account", async () => {
    const created = await createContact(conn.apiKey);
    const res = await api(`/api/v1/contacts/${created.id}`, { key: conn.apiKey });
    expect(res.status).toBe(200);
    const status = await (await api("/api/v1/status", { key: conn.apiKey })).json<{
      method: string;
      status: string;
      needsReauth: unknown;
    }>();
    expect(status).toMatchObject({ method: "oauth", status: "active", needsReauth: null });
  });

  it("100 concurrent reads across isolates with the access token expired make exactly one refresh at Acme", async () => {
    const before = refreshes(await tokenLog(conn.grantId)).count;
    const presentedBefore = await storedRefreshToken(conn.connectionId);
    await expireAccessToken(conn.connectionId);
    const isolates = await Promise.all(Array.from({ length: 4 }, () => isolateClient(conn.connectionId)));
    const reads = Array.from({ length: 100 }, async (_, i) => {
      // A fifth through the API (this Worker's own isolate), the rest through four other isolates.
      if (i % 5 === 0) return (await api("/api/v1/contacts?limit=5", { key: conn.apiKey })).status;
      const acme = isolates[i % 4] as AcmeClient;
      return (await acme.send({ method: "GET", path: "/v1/contacts", query: { limit: "5" } })).status;
    });
    const statuses = await Promise.all(reads);
    expect(
      statuses.every((status) => status === 200),
      JSON.stringify(statuses),
    ).toBe(true);

    const after = refreshes(await tokenLog(conn.grantId));
    expect(after.count - before).toBe(1);
    expect(after.repeated).toEqual([]);
    expect(await storedRefreshToken(conn.connectionId)).not.toBe(presentedBefore);
  });

  it("each expiry after that refreshes once more, with the latest token: Acme never sees one twice", async () => {
    for (let round = 0; round < 3; round++) {
      await expireAccessToken(conn.connectionId);
      const statuses = await Promise.all(
        Array.from(
          { length: 10 },
          async () => (await api("/api/v1/contacts?limit=1", { key: conn.apiKey })).status,
        ),
      );
      expect(statuses).toEqual(Array(10).fill(200));
    }
    const log = await tokenLog(conn.grantId);
    expect(refreshes(log).repeated).toEqual([]);
    expect(log.filter((entry) => entry.outcome !== "issued")).toEqual([]);
  });
});

describe("a refused grant: needs_reauth, refused at once, repaired in place", () => {
  it("a refresh token replayed by hand revokes the grant; the next call turns the connection needs_reauth", async () => {
    const conn = await newOAuthConnection();
    const contact = await createContact(conn.apiKey);
    // The token the session holds, read from its storage, then used by the session's refresh...
    const captured = await storedRefreshToken(conn.connectionId);
    await expireAccessToken(conn.connectionId);
    expect((await api("/api/v1/contacts?limit=1", { key: conn.apiKey })).status).toBe(200);
    // ...and replayed by hand: Acme sees it twice and revokes the whole grant.
    const replay = await appTokenRequest({ grant_type: "refresh_token", refresh_token: captured });
    expect(replay.status).toBe(400);
    expect((await replay.json<{ error: string }>()).error).toBe("invalid_grant");

    // The next call's access token is refused (401), the refresh then is too (invalid_grant).
    await expectProblem(
      await api("/api/v1/contacts?limit=1", { key: conn.apiKey }),
      502,
      "connection_needs_reauth",
    );

    // From now on: refused at once, with no call to Acme.
    const logBefore = (await tokenLog(conn.grantId)).length;
    const callsBefore = await sessionCalls(conn.apiKey);
    for (const path of [
      "/api/v1/contacts?limit=1",
      `/api/v1/contacts/${contact.id}`,
      "/api/v1/remote-fields",
    ]) {
      await expectProblem(await api(path, { key: conn.apiKey }), 502, "connection_needs_reauth");
    }
    await expectProblem(
      await api("/api/v1/contacts", { key: conn.apiKey, method: "POST", body: person() }),
      502,
      "connection_needs_reauth",
    );
    expect(await sessionCalls(conn.apiKey)).toBe(callsBefore);
    expect((await tokenLog(conn.grantId)).length).toBe(logBefore);

    // The status and the admin list say so.
    const status = await (await api("/api/v1/status", { key: conn.apiKey })).json<{
      status: string;
      needsReauth: { code: string; detail: string; since: string } | null;
      token: unknown;
    }>();
    expect(status.status).toBe("needs_reauth");
    expect(status.needsReauth).toMatchObject({ code: "connection_needs_reauth" });
    expect(status.token).toBeNull();
    const listed = await (await admin(`/connections?endUserId=${conn.endUserId}`)).json<{
      data: { id: string; status: string }[];
    }>();
    expect(listed.data).toEqual([expect.objectContaining({ id: conn.connectionId, status: "needs_reauth" })]);

    // A new grant from the same user repairs it in place: same id, same API key, data kept.
    const tokens = await approvedGrant(conn.user);
    await installOAuthGrant(env, config.secretKeys, conn.connectionId, {
      refreshToken: tokens.refresh_token,
      accessToken: tokens.access_token,
      expiresIn: tokens.expires_in,
    });
    const again = await api(`/api/v1/contacts/${contact.id}`, { key: conn.apiKey });
    expect(again.status).toBe(200);
    expect((await again.json<{ id: string }>()).id).toBe(contact.id);
    const repaired = await (await api("/api/v1/status", { key: conn.apiKey })).json<{ status: string }>();
    expect(repaired.status).toBe("active");
    const relisted = await (await admin(`/connections?endUserId=${conn.endUserId}`)).json<{
      data: { status: string }[];
    }>();
    expect(relisted.data[0]?.status).toBe("active");
    // And it refreshes again with the new grant's token (once this isolate's slots ahead, which
    // carry the token, have run out).
    await new Promise((resolve) => setTimeout(resolve, AHEAD_TTL_MS + 50));
    await expireAccessToken(conn.connectionId);
    expect((await api("/api/v1/contacts?limit=1", { key: conn.apiKey })).status).toBe(200);
    expect(refreshes(await tokenLog(grantIdOf(tokens.access_token))).count).toBe(1);
  });

  it("grants revoked at Acme (its connected-apps page): the next call gets 401, the refresh invalid_grant, and the connection needs_reauth", async () => {
    const conn = await newOAuthConnection();
    expect((await api("/api/v1/contacts?limit=1", { key: conn.apiKey })).status).toBe(200);
    const revoked = await SELF.fetch(
      `${ACME}/admin/apps/${encodeURIComponent(PRODUCT_APP.clientId)}/grants?account=${encodeURIComponent(conn.user.accountId)}`,
      { method: "DELETE", headers: { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` } },
    );
    expect(revoked.status).toBe(204);
    await expectProblem(
      await api("/api/v1/contacts?limit=1", { key: conn.apiKey }),
      502,
      "connection_needs_reauth",
    );
    const log = await tokenLog(conn.grantId);
    expect(log[0]).toMatchObject({ grant_type: "refresh_token" });
    expect(log[0]?.outcome).not.toBe("issued");
    const row = await env.DB.prepare("SELECT status FROM connections WHERE id = ?")
      .bind(conn.connectionId)
      .first<{ status: string }>();
    expect(row?.status).toBe("needs_reauth");
  });

  it("installOAuthGrant refuses a connection that is not OAuth, one that does not exist, and unusable tokens, changing nothing", async () => {
    const tokens = { refreshToken: "rt_x", accessToken: "at_x", expiresIn: 3600 };
    await expect(installOAuthGrant(env, config.secretKeys, "conn_nope", tokens)).rejects.toMatchObject({
      code: "not_found",
    });
    const { connectionId: id } = await newConnection();
    await expect(installOAuthGrant(env, config.secretKeys, id, tokens)).rejects.toMatchObject({
      code: "conflict",
    });
    expect(await acmeSessionStub(env, id).sealedRefreshToken()).toBeNull();
    for (const bad of [
      { ...tokens, refreshToken: "" },
      { ...tokens, refreshToken: "has space" },
      { ...tokens, accessToken: "line\nbreak" },
      { ...tokens, expiresIn: 0 },
      { ...tokens, expiresIn: 1.5 },
    ]) {
      await expect(installOAuthGrant(env, config.secretKeys, id, bad)).rejects.toMatchObject({
        code: "acme_bad_response",
      });
    }
  });
});

describe("key rotation and OAuth refresh tokens", () => {
  /** The test env with another key ring, as an isolate that picked up a changed secret has it. */
  function ringEnv(ring: string): Env {
    return { ...env, ENCRYPTION_KEYS: ring, SESSION_SLOTS_AHEAD: "false" } as Env;
  }

  async function call(on: Env, path: string, init: { method?: string; token: string }): Promise<Response> {
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(`${BASE}${path}`, {
        method: init.method ?? "GET",
        headers: { authorization: `Bearer ${init.token}` },
      }),
      on,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return res;
  }

  async function sealedKeyId(connectionId: string): Promise<string> {
    const grant = await acmeSessionStub(env, connectionId).sealedRefreshToken();
    if (!grant) throw new Error("no refresh token stored");
    return grant.refreshToken.split(".")[1] ?? "";
  }

  it("the re-seal route re-seals the refresh tokens it passes; a refresh re-seals too; the old key can then go", async () => {
    const oldKey = env.ENCRYPTION_KEYS;
    const newKey = randomSecret(32);
    const newFirst = ringEnv(`${newKey},${oldKey}`);
    const onlyNew = ringEnv(newKey);
    const [resealed, refreshed] = [await newOAuthConnection(), await newOAuthConnection()];
    const oldId = await secretKeyId(oldKey);
    const newId = await secretKeyId(newKey);
    expect(await sealedKeyId(resealed.connectionId)).toBe(oldId);

    // A refresh in an isolate with the new key first seals the rotated token with it.
    await expireAccessToken(refreshed.connectionId);
    expect((await call(newFirst, "/api/v1/contacts?limit=1", { token: refreshed.apiKey })).status).toBe(200);
    expect(await sealedKeyId(refreshed.connectionId)).toBe(newId);

    // The re-seal scan passes every OAuth connection and re-seals what it finds under the old key.
    let after: string | null = null;
    do {
      const res = await call(
        newFirst,
        `/api/v1/admin/encryption/reseal?limit=50${after ? `&after=${after}` : ""}`,
        {
          method: "POST",
          token: env.ADMIN_TOKEN,
        },
      );
      expect(res.status).toBe(200);
      after = (await res.json<{ next: string | null }>()).next;
    } while (after !== null);
    expect(await sealedKeyId(resealed.connectionId)).toBe(newId);

    // With the old key gone, both still refresh.
    for (const conn of [resealed, refreshed]) {
      await expireAccessToken(conn.connectionId);
      expect((await call(onlyNew, "/api/v1/contacts?limit=1", { token: conn.apiKey })).status).toBe(200);
      expect(refreshes(await tokenLog(conn.grantId)).repeated).toEqual([]);
    }
  });

  it("a refresh token no key of the ring opens fails the call (500) and keeps the grant, which the right ring still refreshes", async () => {
    const conn = await newOAuthConnection();
    const before = (await tokenLog(conn.grantId)).length;
    await expireAccessToken(conn.connectionId);
    const res = await call(ringEnv(randomSecret(32)), "/api/v1/contacts?limit=1", { token: conn.apiKey });
    await expectProblem(res, 500, "internal_error");
    expect((await tokenLog(conn.grantId)).length).toBe(before);
    const status = await acmeSessionStub(env, conn.connectionId).status();
    expect(status.needsReauth).toBeNull();
    expect(status.tokenFailure?.detail).toContain("ENCRYPTION_KEYS");
    expect(
      (await call(ringEnv(env.ENCRYPTION_KEYS), "/api/v1/contacts?limit=1", { token: conn.apiKey })).status,
    ).toBe(200);
  });
});
