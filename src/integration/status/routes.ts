import { z } from "@hono/zod-openapi";
import { connectionData } from "../connection-data/stub.ts";
import { createRouter } from "../context.ts";
import { CONNECTION_METHODS, CONNECTION_STATUSES } from "../db/schema.ts";
import { problemResponses } from "../problem-responses.ts";
import { API_KEY, securedRoute } from "../secured-route.ts";
import { acmeSessionStub } from "../session/session-stub.ts";

const BudgetSchema = z.object({
  limit: z
    .number()
    .int()
    .nullable()
    .openapi({ description: "Acme's quota per window, as learned from its headers" }),
  windowSeconds: z.number().int().nullable(),
  remaining: z.number().int().nullable(),
  scheduledNextWindow: z.number().int(),
  resetInMs: z.number().int(),
});

const StatusSchema = z
  .object({
    connectionId: z.string(),
    method: z.enum(CONNECTION_METHODS),
    status: z.enum(CONNECTION_STATUSES).openapi({
      description:
        "`needs_reauth`: Acme refused the connection's OAuth grant; every call answers 502 `connection_needs_reauth` at once, without calling Acme, until the connection is reconnected",
    }),
    needsReauth: z
      .object({
        code: z
          .literal("connection_needs_reauth")
          .openapi({ description: "The problem code calls answer with" }),
        detail: z.string(),
        since: z.string(),
      })
      .nullable()
      .openapi({
        description:
          "Set while the connection needs reauthorization: why, and since when. A new connect session for its end user repairs it in place (same id, data kept)",
      }),
    circuit: z.object({
      state: z.enum(["closed", "open", "half_open"]),
      recentFailures: z.number().int(),
      retryAfterMs: z.number().int(),
    }),
    budgets: z.object({ read: BudgetSchema, write: BudgetSchema, delete: BudgetSchema }),
    token: z.object({ expiresAt: z.string() }).nullable(),
    tokenObtainedAt: z.string().nullable().openapi({
      description: "When a token was last obtained from Acme; null: never, so no call has been verified",
    }),
    tokenFailure: z
      .object({
        code: z.string().openapi({ description: "The problem's code, e.g. acme_auth_failed" }),
        detail: z.string(),
        at: z.string(),
      })
      .nullable()
      .openapi({
        description:
          "Why the latest token exchange failed (acme_auth_failed: Acme refused the client credentials); null once a token is obtained",
      }),
    counters: z.object({
      calls: z.number().int().openapi({ description: "Attempts made at Acme, counted as they are reported" }),
      retries: z.number().int(),
      acme429s: z.number().int(),
      throttledWaits: z.number().int(),
      throttledRefusals: z.number().int(),
      circuitRefusals: z.number().int(),
      staleFallbacks: z.number().int(),
      cacheWriteFailures: z
        .number()
        .int()
        .openapi({ description: "KV writes and deletes of cached contacts that failed; the calls went on" }),
    }),
    since: z.string().openapi({ description: "Counters count from this instant" }),
    reconciliation: z
      .object({
        nextAt: z
          .string()
          .nullable()
          .openapi({ description: "When the next scheduled reconciliation is due" }),
        lastStartedAt: z.string().nullable(),
        failure: z
          .object({ at: z.string(), message: z.string(), attempts: z.number().int() })
          .nullable()
          .openapi({
            description: "Why the last attempts to start one failed (it is retried with backoff); null: none",
          }),
      })
      .openapi({
        description: "The connection's own reconciliation schedule (every RECONCILE_INTERVAL_SECONDS)",
      }),
  })
  .openapi("ConnectionStatus", {
    example: {
      connectionId: "conn_01jd5x8m3q0000000000000000",
      method: "oauth",
      status: "active",
      needsReauth: null,
      circuit: { state: "closed", recentFailures: 0, retryAfterMs: 0 },
      budgets: {
        read: { limit: 100, windowSeconds: 60, remaining: 97, scheduledNextWindow: 0, resetInMs: 41_000 },
        write: { limit: 50, windowSeconds: 60, remaining: 50, scheduledNextWindow: 0, resetInMs: 41_000 },
        delete: { limit: null, windowSeconds: null, remaining: null, scheduledNextWindow: 0, resetInMs: 0 },
      },
      token: { expiresAt: "2026-02-01T17:00:00.000Z" },
      tokenObtainedAt: "2026-02-01T16:00:00.000Z",
      tokenFailure: null,
      counters: {
        calls: 3,
        retries: 0,
        acme429s: 0,
        throttledWaits: 0,
        throttledRefusals: 0,
        circuitRefusals: 0,
        staleFallbacks: 0,
        cacheWriteFailures: 0,
      },
      since: "2026-02-01T16:00:00.000Z",
      reconciliation: {
        nextAt: "2026-02-01T16:05:00.000Z",
        lastStartedAt: "2026-02-01T16:00:00.000Z",
        failure: null,
      },
    },
  });

export const statusRouter = createRouter().openapi(
  securedRoute({
    method: "get",
    path: "/status",
    tags: ["Status"],
    summary: "How the connection's calls to Acme are doing",
    description:
      "Whether the connection works (`status`; `needs_reauth` when Acme refused its OAuth grant), " +
      "circuit state, throttle budgets per rate class, token expiry (never the token), when a token " +
      "was last obtained and why the latest token exchange failed, counters, and the connection's " +
      "reconciliation schedule (a reconciliation that could not start shows here until one does).",
    security: API_KEY,
    responses: {
      200: { description: "Status", content: { "application/json": { schema: StatusSchema } } },
      ...problemResponses(401),
    },
  }),
  async (c) => {
    const { id: connectionId, method } = c.var.connection;
    const [{ needsReauth, ...status }, schedule] = await Promise.all([
      acmeSessionStub(c.env, connectionId).status(),
      connectionData(c.env, connectionId).reconcileState(),
    ]);
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const reconciliation = {
      nextAt: iso(schedule.nextAt),
      lastStartedAt: iso(schedule.lastStartedAt),
      failure: schedule.failure
        ? { ...schedule.failure, at: new Date(schedule.failure.at).toISOString() }
        : null,
    };
    return c.json(
      {
        connectionId,
        method,
        status: needsReauth ? ("needs_reauth" as const) : ("active" as const),
        needsReauth: needsReauth ? { code: "connection_needs_reauth" as const, ...needsReauth } : null,
        ...status,
        reconciliation,
      },
      200,
    );
  },
);
