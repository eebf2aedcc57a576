import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { BROKEN_OFF_MESSAGE, bodyLimitOf } from "../../lib/request-limits.ts";
import type { AcmeConfig } from "../config.ts";
import { identityBody } from "../content-coding.ts";
import { type AcmeEnv, createAcmeRouter } from "../context.ts";
import type { TokenLogOutcome } from "../db/schema.ts";
import { OAuthError } from "../errors.ts";
import { GrantStore } from "../oauth/grant-store.ts";
import { AcmeErrorSchema, errorResponses } from "../openapi-schemas.ts";
import { issueAccessToken } from "./access-token.ts";
import { authenticateClient, readParameters } from "./client-auth.ts";

const GRANT_TYPES = new Set(["client_credentials", "authorization_code", "refresh_token"]);

/** The largest token request body, in bytes: a grant is a few short parameters. */
export const MAX_TOKEN_REQUEST_BYTES = 4096;

/**
 * 413 for a token request over MAX_TOKEN_REQUEST_BYTES, before anything else looks at it; the
 * error keeps the token endpoint's RFC 6749 shape.
 */
export const tokenBodyLimit: MiddlewareHandler<AcmeEnv> = bodyLimitOf<AcmeEnv>(
  () => MAX_TOKEN_REQUEST_BYTES,
  {
    tooLarge: () =>
      new OAuthError("invalid_request", `The request exceeds ${MAX_TOKEN_REQUEST_BYTES} bytes.`, 413),
    brokenOff: () => new OAuthError("invalid_request", BROKEN_OFF_MESSAGE),
  },
);

const ClientAuthFields = {
  client_id: z
    .string()
    .optional()
    .openapi({ description: "With client_secret: client authentication in the body" }),
  client_secret: z.string().optional(),
};

const ClientCredentialsRequestSchema = z
  .object({ grant_type: z.literal("client_credentials"), ...ClientAuthFields, scope: z.string().optional() })
  .openapi("TokenRequestClientCredentials", {
    example: {
      grant_type: "client_credentials",
      client_id: "cl_01jd5x8m3q0000000000000000",
      client_secret: "cs_9fK2mQ7xVb4nT1pL6sW3yZ8cR0dE5gHj",
      scope: "contacts.read contacts.write",
    },
  });

const AuthorizationCodeRequestSchema = z
  .object({
    grant_type: z.literal("authorization_code"),
    code: z.string(),
    redirect_uri: z.string(),
    code_verifier: z.string().openapi({ description: "RFC 7636: 43 to 128 unreserved characters" }),
    ...ClientAuthFields,
  })
  .openapi("TokenRequestAuthorizationCode", {
    example: {
      grant_type: "authorization_code",
      code: "ac_Qm9xV2b4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT1pL",
      redirect_uri: "https://bridge.example.com/connect/callback",
      code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
      client_id: "app_01jd5x8m3q0000000000000000",
      client_secret: "aps_9fK2mQ7xVb4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT",
    },
  });

const RefreshTokenRequestSchema = z
  .object({
    grant_type: z.literal("refresh_token"),
    refresh_token: z.string(),
    scope: z
      .string()
      .optional()
      .openapi({ description: "Narrows the access token within the grant's scopes" }),
    ...ClientAuthFields,
  })
  .openapi("TokenRequestRefreshToken", {
    example: {
      grant_type: "refresh_token",
      refresh_token: "rt_V2b4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT1pL6sW",
      client_id: "app_01jd5x8m3q0000000000000000",
      client_secret: "aps_9fK2mQ7xVb4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT",
    },
  });

const TokenRequestSchema = z
  .discriminatedUnion("grant_type", [
    ClientCredentialsRequestSchema,
    AuthorizationCodeRequestSchema,
    RefreshTokenRequestSchema,
  ])
  .openapi("TokenRequest", {
    example: {
      grant_type: "client_credentials",
      client_id: "cl_01jd5x8m3q0000000000000000",
      client_secret: "cs_9fK2mQ7xVb4nT1pL6sW3yZ8cR0dE5gHj",
      scope: "contacts.read contacts.write",
    },
  });

const TokenResponseSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int(),
    scope: z.string(),
    refresh_token: z.string().optional().openapi({
      description: "authorization_code and refresh_token grants: a new one each time (rotation)",
    }),
    account_id: z.string().optional().openapi({
      description: "authorization_code and refresh_token grants: the account the token acts for",
    }),
  })
  .openapi("TokenResponse", {
    example: {
      access_token: "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJjbF8wMSJ9.c2lnbmF0dXJl",
      token_type: "Bearer",
      expires_in: 3600,
      scope: "contacts.read contacts.write",
      refresh_token: "rt_V2b4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT1pL6sW",
      account_id: "cl_01jd5x8m3q0000000000000000",
    },
  });

const OAuthErrorSchema = z
  .object({ error: z.string(), error_description: z.string().optional() })
  .openapi("OAuthError", {
    example: { error: "invalid_client", error_description: "Unknown client or wrong secret." },
  });

function grantedScope(requested: string | undefined, allowed: Set<string>): string {
  if (requested === undefined || requested.trim() === "") return [...allowed].join(" ");
  const scopes = requested.split(" ").filter(Boolean);
  const unknown = scopes.filter((s) => !allowed.has(s));
  if (unknown.length > 0)
    throw new OAuthError("invalid_scope", `Scope not allowed for this client: ${unknown.join(" ")}.`);
  return [...new Set(scopes)].join(" ");
}

export const tokenRouter = createAcmeRouter();

tokenRouter.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/token",
  tags: ["OAuth"],
  summary: "Token endpoint: client credentials, authorization code with PKCE, refresh token (RFC 6749)",
  description:
    "Plain clients use client_credentials (RFC 6749 4.4). Apps use authorization_code (4.1.3, with the " +
    "RFC 7636 code_verifier; a code is single use and lives 60 s; presenting a used code revokes the grant " +
    "issued from it) and refresh_token (6): every refresh returns a new refresh token and uses up the one " +
    "presented; presenting a used one again revokes the whole grant (RFC 9700 4.14.2). Both answer " +
    "account_id, the account the tokens act for. Errors are RFC 6749 5.2's.",
  request: {
    body: {
      content: {
        "application/x-www-form-urlencoded": { schema: TokenRequestSchema },
        "application/json": { schema: TokenRequestSchema },
      },
    },
  },
  responses: {
    200: { description: "An access token", content: { "application/json": { schema: TokenResponseSchema } } },
    400: {
      description: "RFC 6749 error (or, in Acme's format, a malformed X-Acme-Fault)",
      content: { "application/json": { schema: z.union([OAuthErrorSchema, AcmeErrorSchema]) } },
    },
    401: { description: "invalid_client", content: { "application/json": { schema: OAuthErrorSchema } } },
    413: {
      description: `invalid_request: the body exceeds ${MAX_TOKEN_REQUEST_BYTES} bytes`,
      content: { "application/json": { schema: OAuthErrorSchema } },
    },
    ...errorResponses(415, 429, 500, 502, 503, 504),
  },
});

tokenRouter.post("/oauth/token", identityBody(), async (c) => {
  const params = await readParameters(c);
  if (!params.grant_type) throw new OAuthError("invalid_request", '"grant_type" is required.');
  if (!GRANT_TYPES.has(params.grant_type)) {
    throw new OAuthError(
      "unsupported_grant_type",
      "Supported: client_credentials, authorization_code, refresh_token.",
    );
  }
  const store = new GrantStore(c.env.ACME_DB);
  const caller = await authenticateClient(c, params, {
    onAppRefused: (appClientId) =>
      store.log({
        appClientId,
        grantType: params.grant_type ?? "",
        outcome: "invalid",
        grantId: null,
        refreshTokenId: null,
        now: Date.now(),
      }),
  });
  c.header("Cache-Control", "no-store");
  c.header("Pragma", "no-cache");

  if (caller.kind === "client") {
    if (params.grant_type !== "client_credentials") {
      throw new OAuthError("unauthorized_client", "This client may use client_credentials only.");
    }
    const scope = grantedScope(params.scope, new Set(caller.client.scopes.split(" ")));
    const token = await issueAccessToken(c.var.config, caller.client.id, scope);
    return c.json({
      access_token: token.accessToken,
      token_type: "Bearer" as const,
      expires_in: token.expiresIn,
      scope: token.scope,
    });
  }
  return c.json(await appGrant(c.var.config, store, caller.app.clientId, params));
});

/**
 * The authorization_code and refresh_token grants of an app: tokens, or an OAuthError. Every
 * request is written to the app's token log with its outcome.
 */
async function appGrant(
  config: AcmeConfig,
  store: GrantStore,
  appClientId: string,
  params: Record<string, string>,
) {
  const now = Date.now();
  const grantType = params.grant_type ?? "";
  const log = (outcome: TokenLogOutcome, grantId: string | null, refreshTokenId: string | null) =>
    store.log({ appClientId, grantType, outcome, grantId, refreshTokenId, now });

  let result: Awaited<ReturnType<GrantStore["refresh"]>>;
  if (grantType === "authorization_code") {
    const missing = ["code", "redirect_uri", "code_verifier"].filter((name) => !params[name]);
    if (missing.length > 0) {
      await log("invalid", null, null);
      throw new OAuthError("invalid_request", `Missing: ${missing.join(", ")}.`);
    }
    result = await store.exchangeCode({
      appClientId,
      code: params.code ?? "",
      redirectUri: params.redirect_uri ?? "",
      codeVerifier: params.code_verifier ?? "",
      now,
    });
  } else if (grantType === "refresh_token") {
    if (!params.refresh_token) {
      await log("invalid", null, null);
      throw new OAuthError("invalid_request", '"refresh_token" is required.');
    }
    result = await store.refresh({
      appClientId,
      refreshToken: params.refresh_token,
      scope: params.scope,
      now,
    });
  } else {
    await log("invalid", null, null);
    throw new OAuthError("unauthorized_client", "An app may use authorization_code and refresh_token only.");
  }

  if (!result.ok) {
    if ("invalidScope" in result) {
      await log("invalid", result.grantId, result.refreshTokenId);
      throw new OAuthError("invalid_scope", `Beyond the grant's scope: ${result.invalidScope}.`);
    }
    await log(result.outcome, result.grantId, result.refreshTokenId);
    throw new OAuthError("invalid_grant", result.description);
  }
  // The log names the refresh token presented (so a token seen twice shows twice), not the new one.
  await log("issued", result.grantId, result.presentedRefreshTokenId);
  const token = await issueAccessToken(config, appClientId, result.scope, now, {
    subject: result.accountId,
    grant: result.grantId,
  });
  return {
    access_token: token.accessToken,
    token_type: "Bearer" as const,
    expires_in: token.expiresIn,
    refresh_token: result.refreshToken,
    scope: token.scope,
    account_id: result.accountId,
  };
}
