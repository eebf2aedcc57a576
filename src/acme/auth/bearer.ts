import type { MiddlewareHandler } from "hono";
import { timingSafeEqualStrings } from "../../lib/crypto.ts";
import type { AcmeEnv } from "../context.ts";
import { AcmeError } from "../errors.ts";
import { GrantStore } from "../oauth/grant-store.ts";
import { verifyAccessToken } from "./access-token.ts";

export const ACME_SCOPES = ["contacts.read", "contacts.write", "webhooks.manage"] as const;
export type AcmeScope = (typeof ACME_SCOPES)[number];

// RFC 6750 section 3.1: a request without credentials gets the bare challenge; an error code
// only when a token was presented and refused.
const CHALLENGE = 'Bearer realm="acme"';
const INVALID_TOKEN_CHALLENGE = `${CHALLENGE}, error="invalid_token"`;

/** The bearer token of an Authorization header; "none" when it presents no bearer credentials. */
function bearerToken(header: string | undefined): string | "none" | null {
  const value = header?.trim() ?? "";
  if (!/^Bearer(?: |$)/i.test(value)) return "none";
  const match = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/i.exec(value);
  return match?.[1] ?? null;
}

function missingToken(message: string): AcmeError {
  return new AcmeError("unauthorized", message, { headers: { "WWW-Authenticate": CHALLENGE } });
}

function invalidToken(message: string): AcmeError {
  return new AcmeError("invalid_token", message, {
    headers: { "WWW-Authenticate": INVALID_TOKEN_CHALLENGE },
  });
}

/**
 * Verifies the access token (and, for a token of an app's grant, that the grant is not revoked)
 * and makes its client available as `c.var.client`.
 */
export function requireAccessToken(): MiddlewareHandler<AcmeEnv> {
  return async function accessTokenMiddleware(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    if (token === "none") throw missingToken("A bearer access token is required.");
    if (token === null) throw invalidToken("The access token is invalid or expired.");
    let claims: Awaited<ReturnType<typeof verifyAccessToken>>;
    try {
      claims = await verifyAccessToken(c.var.config, token);
    } catch {
      // jose says exactly why (expired, bad signature, wrong audience); the caller learns only
      // that the token is not acceptable.
      throw invalidToken("The access token is invalid or expired.");
    }
    // A token of an app's grant lives only as long as the grant: revocation (reuse detection,
    // RFC 7009, the admin API) ends it before it expires.
    if (claims.grant !== undefined && !(await new GrantStore(c.env.ACME_DB).isGrantActive(claims.grant))) {
      throw invalidToken("The access token is invalid or expired.");
    }
    c.set("client", {
      clientId: claims.client_id,
      accountId: claims.sub,
      scopes: new Set(claims.scope.split(" ").filter(Boolean)),
      grantId: claims.grant ?? null,
    });
    await next();
  };
}

export function requireScope(scope: AcmeScope): MiddlewareHandler<AcmeEnv> {
  return async function scopeMiddleware(c, next) {
    if (!c.var.client.scopes.has(scope)) {
      throw new AcmeError("insufficient_scope", `This call needs the "${scope}" scope.`, {
        headers: {
          "WWW-Authenticate": `Bearer realm="acme", error="insufficient_scope", scope="${scope}"`,
        },
      });
    }
    await next();
  };
}

/** Admin routes (faults, clients) take the deployment's admin token, compared in constant time. */
export function requireAdminToken(): MiddlewareHandler<AcmeEnv> {
  return async function adminTokenMiddleware(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    if (token === "none") throw missingToken("The admin token is required.");
    if (token === null || !(await timingSafeEqualStrings(token, c.var.config.adminToken))) {
      throw invalidToken("The admin token is missing or wrong.");
    }
    await next();
  };
}
