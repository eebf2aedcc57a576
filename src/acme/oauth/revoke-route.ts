import { z } from "@hono/zod-openapi";
import { verifyAccessToken } from "../auth/access-token.ts";
import { authenticateClient, readParameters } from "../auth/client-auth.ts";
import { identityBody } from "../content-coding.ts";
import { createAcmeRouter } from "../context.ts";
import { OAuthError } from "../errors.ts";
import { AcmeErrorSchema, errorResponses } from "../openapi-schemas.ts";
import { GrantStore } from "./grant-store.ts";

const RevokeRequestSchema = z
  .object({
    token: z.string().openapi({ description: "A refresh token, or an access token of a grant" }),
    token_type_hint: z.enum(["refresh_token", "access_token"]).optional(),
    client_id: z.string().optional(),
    client_secret: z.string().optional(),
  })
  .openapi("RevokeRequest", {
    example: {
      token: "rt_V2b4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT1pL6sW",
      token_type_hint: "refresh_token",
      client_id: "app_01jd5x8m3q0000000000000000",
      client_secret: "aps_9fK2mQ7xVb4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT",
    },
  });

const OAuthErrorBody = z
  .object({ error: z.string(), error_description: z.string().optional() })
  .openapi({ example: { error: "invalid_client", error_description: "Client authentication failed." } });

export const revokeRouter = createAcmeRouter();

revokeRouter.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/revoke",
  tags: ["OAuth"],
  summary: "Token revocation (RFC 7009)",
  description:
    "An app revokes a token issued to it: a refresh token, or an access token of a grant. Either ends " +
    "the whole grant: every refresh and access token of it stops working at once. An unknown token, one " +
    "already revoked, or one issued to another client answers 200 as well and changes nothing. Client " +
    "authentication as at the token endpoint (Basic or body).",
  request: {
    body: {
      required: true,
      content: {
        "application/x-www-form-urlencoded": { schema: RevokeRequestSchema },
        "application/json": { schema: RevokeRequestSchema },
      },
    },
  },
  responses: {
    200: { description: "Revoked, or nothing to revoke" },
    400: {
      description: "RFC 6749 error (invalid_request), or, in Acme's format, a query that is not UTF-8",
      content: { "application/json": { schema: z.union([OAuthErrorBody, AcmeErrorSchema]) } },
    },
    401: { description: "invalid_client", content: { "application/json": { schema: OAuthErrorBody } } },
    413: {
      description: "invalid_request: the body exceeds 4096 bytes",
      content: { "application/json": { schema: OAuthErrorBody } },
    },
    ...errorResponses(415, 429),
  },
});

revokeRouter.post("/oauth/revoke", identityBody(), async (c) => {
  const params = await readParameters(c);
  const caller = await authenticateClient(c, params);
  if (!params.token) throw new OAuthError("invalid_request", '"token" is required.');
  c.header("Cache-Control", "no-store");
  if (caller.kind !== "app") return c.body(null, 200);

  const store = new GrantStore(c.env.ACME_DB);
  const now = Date.now();
  // RFC 7009 2.1: the hint only says where to look first; the other kind is tried too.
  let grantId = await store.grantOfRefreshToken(caller.app.clientId, params.token);
  if (grantId === null) {
    try {
      const claims = await verifyAccessToken(c.var.config, params.token, now);
      if (claims.client_id === caller.app.clientId && claims.grant !== undefined) grantId = claims.grant;
    } catch {
      // Not an access token either (or an expired one, whose grant stays): nothing to revoke.
    }
  }
  if (grantId !== null) await store.revokeGrant(grantId, "revocation_request", now);
  return c.body(null, 200);
});
