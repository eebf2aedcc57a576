import type { MiddlewareHandler } from "hono";
import { timingSafeEqualStrings } from "../../lib/crypto.ts";
import type { AcmeEnv } from "../context.ts";
import { AcmeError } from "../errors.ts";
import { verifyAccessToken } from "./access-token.ts";

export const ACME_SCOPES = ["contacts.read", "contacts.write", "webhooks.manage"] as const;
export type AcmeScope = (typeof ACME_SCOPES)[number];

const INVALID_TOKEN_CHALLENGE = 'Bearer realm="acme", error="invalid_token"';

function bearerToken(header: string | undefined): string | null {
  const match = header ? /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim()) : null;
  return match?.[1] ?? null;
}

function invalidToken(message: string): AcmeError {
  return new AcmeError("invalid_token", message, {
    headers: { "WWW-Authenticate": INVALID_TOKEN_CHALLENGE },
  });
}

/** Verifies the access token and makes its client available as `c.var.client`. */
export function requireAccessToken(): MiddlewareHandler<AcmeEnv> {
  return async function accessTokenMiddleware(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    if (!token) throw invalidToken("A bearer access token is required.");
    let claims: Awaited<ReturnType<typeof verifyAccessToken>>;
    try {
      claims = await verifyAccessToken(c.var.config, token);
    } catch {
      // jose says exactly why (expired, bad signature, wrong audience); the caller learns only
      // that the token is not acceptable.
      throw invalidToken("The access token is invalid or expired.");
    }
    c.set("client", {
      clientId: claims.client_id,
      accountId: claims.sub,
      scopes: new Set(claims.scope.split(" ").filter(Boolean)),
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
    if (!token || !(await timingSafeEqualStrings(token, c.var.config.adminToken))) {
      throw invalidToken("The admin token is missing or wrong.");
    }
    await next();
  };
}
