import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import { decodeForm, decodeUtf8, illFormedTextPath } from "../../lib/unicode-text.ts";
import type { AcmeEnv } from "../context.ts";
import { type ClientRow, clients, type OAuthAppRow, oauthApps } from "../db/schema.ts";
import { OAuthError } from "../errors.ts";
import { rateLimitHeaders } from "../rate-limit/fixed-window.ts";
import { limiterFor, rateLimitedError, takeRateLimit } from "../rate-limit/limiter-client.ts";
import { hashClientSecret, verifyClientSecret } from "./client-secret.ts";

/** Who authenticated at the token or revocation endpoint: a plain client (its own account) or an app. */
export type AuthenticatedCaller = { kind: "client"; client: ClientRow } | { kind: "app"; app: OAuthAppRow };

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

/** The parameters of a token or revocation request: a strict form body, or a JSON object of strings; else `invalid_request`. */
export async function readParameters(c: Context<AcmeEnv>): Promise<Record<string, string>> {
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

/**
 * RFC 6749 2.3.1 client authentication, by HTTP Basic or in the body (never both), for a plain
 * client or an app. Takes one `token` unit of the client's rate limit and refuses while its
 * `token_failure` window is spent; a wrong secret costs one `token_failure` unit. Unknown ids
 * still cost one HMAC, so timing does not reveal which exist. Throws OAuthError `invalid_client`
 * (401) or `invalid_request`, AcmeError `rate_limited` (429). `onAppRefused` hears of a known
 * app whose secret was wrong (for its token log).
 */
export async function authenticateClient(
  c: Context<AcmeEnv>,
  params: Record<string, string>,
  options: { onAppRefused?: (appClientId: string) => Promise<void> } = {},
): Promise<AuthenticatedCaller> {
  const config = c.var.config;
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
  const app = client
    ? undefined
    : await db.select().from(oauthApps).where(eq(oauthApps.clientId, credentials.clientId)).get();
  const secretHash = client?.secretHash ?? app?.secretHash;
  let valid = false;
  if (secretHash !== undefined) {
    valid = await verifyClientSecret(config.clientSecretPepper, credentials.clientSecret, secretHash);
  } else {
    await hashClientSecret(config.clientSecretPepper, credentials.clientSecret);
  }
  if (!valid) {
    await limiter.consume("token_failure", config.rateLimits.token_failure);
    if (app) await options.onAppRefused?.(app.clientId);
    throw new OAuthError(
      "invalid_client",
      "Client authentication failed.",
      401,
      credentials.viaBasic ? { "WWW-Authenticate": 'Basic realm="acme"' } : {},
    );
  }
  return client ? { kind: "client", client } : { kind: "app", app: app as OAuthAppRow };
}
