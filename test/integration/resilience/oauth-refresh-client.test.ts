import { describe, expect, it } from "vitest";
import { AcmeClient } from "../../../src/integration/acme-client/acme-client.ts";
import type { ConnectionRow } from "../../../src/integration/db/schema.ts";
import { ApiError } from "../../../src/integration/errors.ts";
import type { RequestStats } from "../../../src/integration/request-stats.ts";
import type {
  AcmeSessionApi,
  RotatedRefreshToken,
  TokenFailure,
  TokenGrant,
} from "../../../src/integration/session/protocol.ts";
import { toBase64Url } from "../../../src/lib/ids.ts";
import { SecretKeyRing } from "../../../src/lib/secret-box.ts";
import { fakeClock } from "./scripted-acme.ts";

// The Acme client's side of an OAuth connection's refresh, against an injected session and a
// scripted token endpoint: what it presents, what it hands the session and in which order.

const KEYS = new SecretKeyRing([toBase64Url(new Uint8Array(32).fill(5))]);
const APP = { clientId: "acme-bridge", clientSecret: "app-secret" };
const CONNECTION: ConnectionRow = {
  id: "conn_oauth_client",
  name: "oauth",
  acmeBaseUrl: null,
  acmeClientId: "cl_account",
  acmeClientSecretEnc: null,
  method: "oauth",
  endUserId: "user_1",
  status: "active",
  webhookSecretEnc: null,
  webhookSubscriptionId: null,
  reconciledThrough: null,
  scheduleCheckedAt: null,
  createdAt: "",
};
const CONTEXT = `${CONNECTION.id}:refresh`;
const LIST = { method: "GET" as const, path: "/v1/contacts" };

/**
 * A session holding a sealed refresh token and no access token, logging what it is told into
 * `events` (shared with the scripted Acme, so the order of both is one list).
 */
async function oauthSession(events: string[], options: { validMs?: number } = {}) {
  const state = {
    refreshToken: await KEYS.seal("rt-1", CONTEXT),
    accessToken: null as string | null,
    refused: null as { presented: string | null; detail: string } | null,
    released: [] as (TokenFailure | undefined)[],
  };
  const session: AcmeSessionApi = {
    async begin() {
      if (state.refused) {
        return { permit: { admitted: false, reason: "needs_reauth", retryAfterMs: 0 }, grant: null };
      }
      const grant: TokenGrant = state.accessToken
        ? { kind: "token", accessToken: state.accessToken, expiresAt: Date.now() + 3_600_000 }
        : {
            kind: "lease",
            leaseId: "lease",
            refresh: { sealedToken: state.refreshToken, validMs: options.validMs ?? 10_000 },
          };
      return { permit: { admitted: true, waitMs: 0, probe: false }, grant };
    },
    report: () => {},
    async storeToken(_lease: string, accessToken: string, _expiresIn: number, refresh?: RotatedRefreshToken) {
      events.push(
        `store ${accessToken} rotating ${refresh ? await KEYS.open(refresh.next, CONTEXT) : "nothing"}`,
      );
      if (!refresh || refresh.presented !== state.refreshToken) return false;
      state.refreshToken = refresh.next;
      state.accessToken = accessToken;
      return true;
    },
    releaseLease: (_lease: string, failure?: TokenFailure) => {
      events.push(`release ${failure?.code ?? "-"}`);
      state.released.push(failure);
    },
    invalidateToken: (accessToken: string) => {
      if (state.accessToken === accessToken) state.accessToken = null;
    },
    refuseGrant: (_lease: string, _connectionId: string, presented: string | null, detail: string) => {
      events.push("refuse");
      state.refused = { presented, detail };
    },
  };
  return { session, state };
}

type TokenAnswer = (form: URLSearchParams) => Response | Promise<Response>;

/**
 * Acme: the token endpoint answers with `script` in turn (the last repeats; "rotate" issues the
 * next access and refresh tokens, at-2 and rt-2 first), the API with 200.
 */
function scriptedAcme(events: string[], script: (TokenAnswer | "rotate")[] = ["rotate"]) {
  const presented: string[] = [];
  let rotation = 1;
  const rotate = () => {
    rotation += 1;
    return Response.json({
      access_token: `at-${rotation}`,
      token_type: "Bearer",
      expires_in: 3600,
      refresh_token: `rt-${rotation}`,
      scope: "contacts.read",
      account_id: "cl_account",
    });
  };
  const transport = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/oauth/token")) {
      const form = new URLSearchParams(await request.text());
      expect(request.headers.get("authorization")).toBe(`Basic ${btoa("acme-bridge:app-secret")}`);
      expect(form.get("grant_type")).toBe("refresh_token");
      presented.push(form.get("refresh_token") ?? "");
      events.push(`token endpoint ${form.get("refresh_token")}`);
      const answer = script.length > 1 ? script.shift() : script[0];
      return answer === "rotate" || answer === undefined ? rotate() : answer(form);
    }
    events.push(`api ${request.headers.get("authorization")}`);
    return Response.json({ data: [] });
  };
  return { transport, presented };
}

function client(session: AcmeSessionApi, transport: (r: Request) => Promise<Response>, app = true) {
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  const acme = new AcmeClient({
    connection: CONNECTION,
    session,
    inProcess: transport,
    defaultBaseUrl: undefined,
    secretKeys: KEYS,
    oauthApp: app ? APP : undefined,
    attemptTimeoutMs: 2500,
    deadlineMs: 3000,
    stats,
    clock: fakeClock(),
  });
  return { acme, stats };
}

async function problemOf(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error;
}

describe("an OAuth connection's refresh in the Acme client", () => {
  it("presents the refresh token with the app's credentials and stores the rotated one before the access token is used", async () => {
    const events: string[] = [];
    const { session, state } = await oauthSession(events);
    const acme = scriptedAcme(events);
    const { acme: c } = client(session, acme.transport);
    const response = await c.send(LIST);
    expect(response.status).toBe(200);
    expect(events).toEqual(["token endpoint rt-1", "store at-2 rotating rt-2", "api Bearer at-2"]);
    // Stored sealed, bound to the connection.
    expect(state.refreshToken).not.toContain("rt-2");
    expect(await KEYS.open(state.refreshToken, CONTEXT)).toBe("rt-2");
    await expect(KEYS.open(state.refreshToken, "conn_other:refresh")).rejects.toThrow();
  });

  it("each refresh presents the latest rotated token, once", async () => {
    const events: string[] = [];
    const { session, state } = await oauthSession(events);
    const acme = scriptedAcme(events);
    const { acme: c } = client(session, acme.transport);
    for (let round = 0; round < 3; round++) {
      state.accessToken = null;
      expect((await c.send(LIST)).status).toBe(200);
    }
    expect(acme.presented).toEqual(["rt-1", "rt-2", "rt-3"]);
  });

  it("invalid_grant marks the connection needs_reauth and answers 502 connection_needs_reauth without an API call", async () => {
    const events: string[] = [];
    const { session, state } = await oauthSession(events);
    const sealed = state.refreshToken;
    const acme = scriptedAcme(events, [() => Response.json({ error: "invalid_grant" }, { status: 400 })]);
    const { acme: c, stats } = client(session, acme.transport);
    const error = await problemOf(c.send(LIST));
    expect([error.code, error.status]).toEqual(["connection_needs_reauth", 502]);
    expect(state.refused?.presented).toBe(sealed);
    expect(events).toEqual(["token endpoint rt-1", "refuse"]);
    expect(stats.acmeAttempts).toBe(1);

    // From then on: refused at once, nothing sent to Acme.
    const again = await problemOf(c.send(LIST));
    expect(again.code).toBe("connection_needs_reauth");
    expect(stats.acmeAttempts).toBe(1);
  });

  it.each([
    ["Acme failed (503)", () => new Response("down", { status: 503 })],
    [
      "Acme could not be reached",
      () => {
        throw new TypeError("network connection lost");
      },
    ],
  ] as [string, TokenAnswer][])(
    "%s: the lease is released and the same token presented again, which recovers",
    async (_name, fail) => {
      const events: string[] = [];
      const { session, state } = await oauthSession(events);
      const acme = scriptedAcme(events, [fail, "rotate"]);
      const { acme: c } = client(session, acme.transport);
      expect((await c.send(LIST)).status).toBe(200);
      expect(acme.presented).toEqual(["rt-1", "rt-1"]);
      expect(state.released.map((f) => f?.code)).toEqual(["acme_unavailable"]);
      expect(await KEYS.open(state.refreshToken, CONTEXT)).toBe("rt-2");
    },
  );

  it("Acme refusing the app's own credentials (401) is acme_auth_failed, and the grant is kept", async () => {
    const events: string[] = [];
    const { session, state } = await oauthSession(events);
    const acme = scriptedAcme(events, [() => Response.json({ error: "invalid_client" }, { status: 401 })]);
    const error = await problemOf(client(session, acme.transport).acme.send(LIST));
    expect(error.code).toBe("acme_auth_failed");
    expect(error.message).toContain("ACME_OAUTH_CLIENT_ID");
    expect(state.refused).toBeNull();
    expect(state.released.map((f) => f?.code)).toEqual(["acme_auth_failed"]);
  });

  it("without the app's credentials configured: 500 naming them, no call to Acme, the grant kept", async () => {
    const events: string[] = [];
    const { session, state } = await oauthSession(events);
    const acme = scriptedAcme(events);
    const { acme: c, stats } = client(session, acme.transport, false);
    const error = await problemOf(c.send(LIST));
    expect([error.code, error.status]).toEqual(["internal_error", 500]);
    expect(error.message).toContain("ACME_OAUTH_CLIENT_SECRET");
    expect(stats.acmeAttempts).toBe(0);
    expect(state.refused).toBeNull();
  });

  it("a lease too close to its end is given back unused: the token is never presented past it", async () => {
    const events: string[] = [];
    const { session } = await oauthSession(events, { validMs: 900 });
    const acme = scriptedAcme(events);
    const error = await problemOf(client(session, acme.transport).acme.send(LIST));
    expect(error.code).toBe("acme_unavailable");
    expect(acme.presented).toEqual([]);
    expect(events.every((e) => e === "release acme_unavailable")).toBe(true);
  });

  it("a 200 without a usable refresh token is acme_bad_response and stores nothing", async () => {
    const events: string[] = [];
    const { session, state } = await oauthSession(events);
    const before = state.refreshToken;
    const acme = scriptedAcme(events, [
      () => Response.json({ access_token: "at-x", token_type: "Bearer", expires_in: 3600 }),
    ]);
    const error = await problemOf(client(session, acme.transport).acme.send(LIST));
    expect(error.code).toBe("acme_bad_response");
    expect(state.refreshToken).toBe(before);
    expect(events).not.toContain("api Bearer at-x");
  });

  it("a rotated token the session refuses (grant replaced meanwhile) is not used; the call asks again", async () => {
    const events: string[] = [];
    const { session, state } = await oauthSession(events);
    const installed = await KEYS.seal("rt-installed", CONTEXT);
    const acme = scriptedAcme(events, [
      () => {
        // A repair installs a new grant while this refresh is at Acme.
        state.refreshToken = installed;
        state.accessToken = "at-installed";
        return Response.json({ access_token: "at-2", expires_in: 3600, refresh_token: "rt-2" });
      },
    ]);
    expect((await client(session, acme.transport).acme.send(LIST)).status).toBe(200);
    expect(events).not.toContain("api Bearer at-2");
    expect(events.at(-1)).toBe("api Bearer at-installed");
    expect(state.refreshToken).toBe(installed);
  });
});
