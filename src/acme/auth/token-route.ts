import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context, MiddlewareHandler } from "hono";
import { BROKEN_OFF_MESSAGE, bodyLimitOf } from "../../lib/request-limits.ts";
import { decodeForm, decodeUtf8, illFormedTextPath } from "../../lib/unicode-text.ts";
import { identityBody } from "../content-coding.ts";
import { type AcmeEnv, createAcmeRouter } from "../context.ts";
import { clients } from "../db/schema.ts";
import { OAuthError } from "../errors.ts";
import { AcmeErrorSchema, errorResponses } from "../openapi-schemas.ts";
import { rateLimitHeaders } from "../rate-limit/fixed-window.ts";
import { limiterFor, rateLimitedError, takeRateLimit } from "../rate-limit/limiter-client.ts";
import { issueAccessToken } from "./access-token.ts";
import { hashClientSecret, verifyClientSecret } from "./client-secret.ts";

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

const TokenRequestSchema = z
  .object({
    grant_type: z.literal("client_credentials"),
    client_id: z.string().optional(),
    client_secret: z.string().optional(),
    scope: z.string().optional(),
  })
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
  })
  .openapi("TokenResponse", {
    example: {
      access_token: "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJjbF8wMSJ9.c2lnbmF0dXJl",
      token_type: "Bearer",
      expires_in: 3600,
      scope: "contacts.read contacts.write",
    },
  });

const OAuthErrorSchema = z
  .object({ error: z.string(), error_description: z.string().optional() })
  .openapi("OAuthError", {
    example: { error: "invalid_client", error_description: "Unknown client or wrong secret." },
  });

interface Credentials {
  clientId: string;
  clientSecret: string;
  viaBasic: boolean;
}

/** A form body, decoded strictly (see decodeForm): escapes that are not UTF-8 are refused. */
function readForm(text: string): Record<string, string> {
  const decoded = decodeForm(text);
  if ("illFormed" in decoded) {
    throw new OAuthError("invalid_request", `"${decoded.illFormed}" is not valid percent-encoded UTF-8.`);
  }
  // No prototype: a parameter named __proto__ is just a parameter.
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of decoded.pairs) {
    // RFC 6749 section 3.2: parameters must not be repeated.
    if (Object.hasOwn(out, name)) throw new OAuthError("invalid_request", `"${name}" is repeated.`);
    out[name] = value;
  }
  return out;
}

async function readParameters(c: Context<AcmeEnv>): Promise<Record<string, string>> {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  const text = decodeUtf8(await c.req.arrayBuffer());
  if (text === null) throw new OAuthError("invalid_request", "The body is not valid UTF-8.");
  if (type === "application/x-www-form-urlencoded") return readForm(text);
  if (type === "application/json") {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new OAuthError("invalid_request", "The body is not valid JSON.");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new OAuthError("invalid_request", "The body must be a JSON object.");
    }
    const field = illFormedTextPath(body);
    if (field !== null) throw new OAuthError("invalid_request", `"${field}" is not valid Unicode text.`);
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(body)) {
      if (typeof value !== "string") throw new OAuthError("invalid_request", `"${key}" must be a string.`);
      out[key] = value;
    }
    return out;
  }
  throw new OAuthError("invalid_request", "Send application/x-www-form-urlencoded (or application/json).");
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, " "));
}

function readCredentials(header: string | undefined, params: Record<string, string>): Credentials {
  const inBody = params.client_id !== undefined || params.client_secret !== undefined;
  if (header && /^basic /i.test(header)) {
    if (inBody) throw new OAuthError("invalid_request", "Use one client authentication method, not two.");
    let decoded: string;
    try {
      decoded = atob(header.slice(6).trim());
    } catch {
      throw basicFailure("The Basic credentials are not valid base64.");
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) throw basicFailure("The Basic credentials must be client_id:client_secret.");
    try {
      return {
        clientId: formDecode(decoded.slice(0, colon)),
        clientSecret: formDecode(decoded.slice(colon + 1)),
        viaBasic: true,
      };
    } catch {
      throw basicFailure("The Basic credentials are not form-encoded correctly.");
    }
  }
  if (!params.client_id || !params.client_secret) {
    throw new OAuthError("invalid_client", "Client authentication is required.", 401, {
      "WWW-Authenticate": 'Basic realm="acme"',
    });
  }
  return { clientId: params.client_id, clientSecret: params.client_secret, viaBasic: false };
}

function basicFailure(description: string): OAuthError {
  return new OAuthError("invalid_client", description, 401, { "WWW-Authenticate": 'Basic realm="acme"' });
}

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
  summary: "Client credentials grant (RFC 6749 section 4.4)",
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
  const config = c.var.config;
  const params = await readParameters(c);
  if (!params.grant_type) throw new OAuthError("invalid_request", '"grant_type" is required.');
  if (params.grant_type !== "client_credentials") {
    throw new OAuthError("unsupported_grant_type", "Only client_credentials is supported.");
  }
  const credentials = readCredentials(c.req.header("authorization"), params);

  const limiter = limiterFor(c.env, credentials.clientId);
  const { decision, headers } = await takeRateLimit(c.env, config, credentials.clientId, "token");
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  if (!decision.allowed) throw rateLimitedError("token", decision, headers);
  const failures = await limiter.peek("token_failure", config.rateLimits.token_failure);
  if (!failures.allowed) {
    throw rateLimitedError("token_failure", failures, rateLimitHeaders("token_failure", failures));
  }

  const db = drizzle(c.env.ACME_DB);
  const client = await db.select().from(clients).where(eq(clients.id, credentials.clientId)).get();
  // Unknown clients still cost one HMAC, so timing does not reveal which ids exist.
  let valid = false;
  if (client) {
    valid = await verifyClientSecret(config.clientSecretPepper, credentials.clientSecret, client.secretHash);
  } else {
    await hashClientSecret(config.clientSecretPepper, credentials.clientSecret);
  }
  if (!client || !valid) {
    await limiter.consume("token_failure", config.rateLimits.token_failure);
    throw new OAuthError(
      "invalid_client",
      "Client authentication failed.",
      401,
      credentials.viaBasic ? { "WWW-Authenticate": 'Basic realm="acme"' } : {},
    );
  }

  const scope = grantedScope(params.scope, new Set(client.scopes.split(" ")));
  const token = await issueAccessToken(config, client.id, scope);
  c.header("Cache-Control", "no-store");
  c.header("Pragma", "no-cache");
  return c.json({
    access_token: token.accessToken,
    token_type: "Bearer" as const,
    expires_in: token.expiresIn,
    scope: token.scope,
  });
});
