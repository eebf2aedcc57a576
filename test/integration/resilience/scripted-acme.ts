import { AcmeClient, type Clock } from "../../../src/integration/acme-client/acme-client.ts";
import type { RequestStats } from "../../../src/integration/request-stats.ts";
import { DEFAULT_BREAKER } from "../../../src/integration/resilience/circuit-breaker.ts";
import type { AcmeSessionApi, TokenGrant } from "../../../src/integration/session/protocol.ts";
import { SessionState } from "../../../src/integration/session/session-state.ts";
import { toBase64Url } from "../../../src/lib/ids.ts";
import { SecretKeyRing } from "../../../src/lib/secret-box.ts";

// An AcmeClient over a scripted Acme in virtual time, for tests of what is built on the client.

const KEYS = new SecretKeyRing([toBase64Url(new Uint8Array(32).fill(7))]);
const SEALED_SECRET = await KEYS.seal("client-secret", "conn_test");

/** Virtual time: sleeping advances the clock at once, so waits are measured, not spent. */
export function fakeClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
    random: () => 0.5,
  };
}

/** The AcmeSession's decisions (real SessionState) with a token store, in memory. */
export function memorySession(
  clock: Clock,
): AcmeSessionApi & { state: SessionState; tokenRequests: number; nextToken: () => string } {
  const state = new SessionState({ ...DEFAULT_BREAKER, failureThreshold: 3, openMs: 1000 });
  let token: string | null = "token-1";
  let issued = 1;
  const session = {
    state,
    tokenRequests: 0,
    async begin(input: Parameters<AcmeSessionApi["begin"]>[0]) {
      const permit = state.admit(clock.now(), input.rateClass, input.priority, input.maxWaitMs);
      if (!permit.admitted) return { permit, grant: null };
      const grant: TokenGrant = token
        ? { kind: "token", accessToken: token, expiresAt: clock.now() + 3_600_000 }
        : { kind: "lease", leaseId: "lease" };
      return { permit, grant };
    },
    report: (report: Parameters<AcmeSessionApi["report"]>[0]) => state.record(clock.now(), report),
    storeToken: (_lease: string, accessToken: string) => {
      token = accessToken;
      return true;
    },
    releaseLease: () => {},
    refuseGrant: () => {},
    invalidateToken: (accessToken: string) => {
      if (token === accessToken) token = null;
    },
    nextToken: () => {
      issued += 1;
      session.tokenRequests += 1;
      return `token-${issued}`;
    },
  };
  return session;
}

export type Handler = (request: Request) => Response | Promise<Response>;

/** A scripted Acme: answers come from the queue in order; the last one repeats. */
export function scriptedAcme(clock: Clock, session: ReturnType<typeof memorySession>, script: Handler[]) {
  const seen: { method: string; path: string; headers: Headers; at: number }[] = [];
  const transport = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/oauth/token")) {
      return Response.json({ access_token: session.nextToken(), token_type: "Bearer", expires_in: 3600 });
    }
    seen.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: request.headers,
      at: clock.now(),
    });
    const handler = script.length > 1 ? script.shift() : script[0];
    return handler ? handler(request) : new Response(null, { status: 500 });
  };
  return { transport, seen };
}

export const json =
  (status: number, body: unknown = {}, headers: Record<string, string> = {}) =>
  () =>
    Response.json(body, { status, headers });

export function client(
  clock: Clock,
  session: AcmeSessionApi,
  transport: (r: Request) => Promise<Response>,
  overrides: { deadlineMs?: number; attemptTimeoutMs?: number } = {},
) {
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  const acme = new AcmeClient({
    connection: {
      id: "conn_test",
      name: "test",
      acmeBaseUrl: null,
      acmeClientId: "client",
      acmeClientSecretEnc: SEALED_SECRET,
      method: "client_credentials",
      endUserId: null,
      status: "active",
      webhookSecretEnc: null,
      webhookSubscriptionId: null,
      reconciledThrough: null,
      scheduleCheckedAt: null,
      createdAt: "",
    },
    session,
    inProcess: transport,
    defaultBaseUrl: undefined,
    secretKeys: KEYS,
    attemptTimeoutMs: overrides.attemptTimeoutMs ?? 2500,
    deadlineMs: overrides.deadlineMs ?? 3000,
    stats,
    clock,
  });
  return { acme, stats };
}
