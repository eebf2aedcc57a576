import { z } from "@hono/zod-openapi";
import { findConnection } from "../connections/connection-store.ts";
import { EndUserIdSchema } from "../connections/end-user-id.ts";
import { createRouter } from "../context.ts";
import { CONNECTION_METHODS } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { integrationJsonBody } from "../json-body.ts";
import { problemResponses } from "../problem-responses.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";
import { loadConnectConfig, MAX_CONNECT_SESSION_TTL_SECONDS } from "./config.ts";
import { connectOrigin, connectPageUrl } from "./origin.ts";
import { MAX_REDIRECT_URL_LENGTH, REDIRECT_URL_SPELLING, redirectUrlProblem } from "./redirect-url.ts";
import { createConnectSession } from "./session-store.ts";

const ConnectSessionInputSchema = z
  .strictObject({
    endUserId: EndUserIdSchema.openapi({
      description: "Your own id for the customer who connects (1 to 200 printable ASCII characters)",
    }),
    redirectUrl: z
      .string()
      .max(MAX_REDIRECT_URL_LENGTH)
      .regex(
        REDIRECT_URL_SPELLING,
        "must be written as https://host/path, without spaces, control characters or backslashes",
      )
      .optional()
      .openapi({
        description:
          "Where the browser goes when the flow ends: `?connectionId=…` added on success, `?error=…` " +
          "(an RFC 6749 code such as `access_denied`, `invalid_grant`) on failure. An absolute " +
          "https URL without credentials (http to a loopback host only where the deployment allows " +
          "it: CONNECT_REDIRECT_ALLOW_LOOPBACK, local dev). Without it the flow ends on a page of its own.",
        example: "https://app.example.com/integrations/acme/done",
      }),
    method: z
      .enum(CONNECTION_METHODS)
      .default("oauth")
      .openapi({
        description:
          "`oauth` (default): the user signs in at Acme and approves; `client_credentials`: the user " +
          "enters the account's client id and secret, checked at Acme before anything is stored",
      }),
    connectionId: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({
        description:
          "Repair this connection in place (same id, same data), e.g. one that `needs_reauth`: it " +
          "must use `method` and belong to `endUserId` (or to no end user). Without it an OAuth " +
          "session repairs the end user's connection to the same Acme account, if there is one.",
      }),
  })
  .openapi("ConnectSessionInput", {
    example: {
      endUserId: "user_4711",
      redirectUrl: "https://app.example.com/integrations/acme/done",
      method: "oauth",
    },
  });

const ConnectSessionSchema = z
  .object({
    token: z.string().openapi({ description: "The session's secret; shown once, only its hash is stored" }),
    url: z.string().openapi({
      description: "The hosted connect page to send the end user to: single use",
    }),
    expiresAt: z.string().openapi({
      description: `When the link stops working (ISO 8601; at most ${MAX_CONNECT_SESSION_TTL_SECONDS / 60} minutes)`,
    }),
  })
  .openapi("ConnectSession", {
    example: {
      token: "cst_Xq3k9VwzP0aLrT7mB2nYc5dE8fG1hJ4kL6oQ9sU0vW2a3f9c1e0b7d4",
      url: "https://bridge.example.com/connect/cst_Xq3k9VwzP0aLrT7mB2nYc5dE8fG1hJ4kL6oQ9sU0vW2a3f9c1e0b7d4",
      expiresAt: "2026-01-15T09:30:00.000Z",
    },
  });

export const connectSessionRouter = createRouter();

connectSessionRouter.openapi(
  securedRoute({
    method: "post",
    path: "/v1/admin/connect-sessions",
    tags: ["Admin"],
    summary: "Create a connect session: a single-use link to the hosted connect page for one end user",
    description:
      "The end user opens `url`: for `oauth` they are sent to Acme to sign in and approve, and " +
      "come back to `/connect/callback`, where the connection is created (or repaired in place), " +
      "subscribed to Acme's webhooks and backfilled before the browser is sent to `redirectUrl`. " +
      "For `client_credentials` the page is a form whose credentials are checked at Acme first. " +
      "The link works once, for at most 30 minutes (CONNECT_SESSION_TTL_SECONDS).",
    security: ADMIN_TOKEN,
    middleware: [integrationJsonBody] as const,
    request: {
      body: { required: true, content: { "application/json": { schema: ConnectSessionInputSchema } } },
    },
    responses: {
      201: {
        description: "Created; send the end user to `url`",
        content: { "application/json": { schema: ConnectSessionSchema } },
      },
      ...problemResponses(400, 401, 404, 409, 413, 415),
    },
  }),
  async (c) => {
    const input = c.req.valid("json");
    const { config } = c.var;
    const connect = loadConnectConfig(c.env);
    if (input.redirectUrl !== undefined) {
      const problem = redirectUrlProblem(input.redirectUrl, { allowLoopback: connect.redirectAllowLoopback });
      if (problem) {
        throw new ApiError("validation_failed", `redirectUrl ${problem}.`, {
          errors: [{ field: "redirectUrl", message: problem }],
        });
      }
    }
    if (input.method === "oauth" && !config.oauthApp) {
      throw new ApiError(
        "conflict",
        "This deployment has no app at Acme (ACME_OAUTH_CLIENT_ID, ACME_OAUTH_CLIENT_SECRET): use client_credentials.",
      );
    }
    if (input.connectionId !== undefined) {
      const target = await findConnection(c.env.DB, input.connectionId);
      if (!target) throw new ApiError("not_found", `Connection ${input.connectionId} does not exist.`);
      if (target.method !== input.method) {
        throw new ApiError("conflict", `Connection ${target.id} uses ${target.method}, not ${input.method}.`);
      }
      if (target.endUserId !== null && target.endUserId !== input.endUserId) {
        throw new ApiError("conflict", `Connection ${target.id} belongs to another end user.`);
      }
    }
    const { token, row } = await createConnectSession(
      c.env.CONNECT_SESSIONS,
      { keys: config.secretKeys, idTagKey: config.idTagKey },
      {
        endUserId: input.endUserId,
        method: input.method,
        redirectUrl: input.redirectUrl ?? null,
        connectionId: input.connectionId ?? null,
      },
      { now: Date.now(), ttlSeconds: connect.sessionTtlSeconds },
    );
    return c.json(
      {
        token,
        url: connectPageUrl(connectOrigin(config, c.req.url), token),
        expiresAt: new Date(row.expiresAt).toISOString(),
      },
      201,
    );
  },
);
