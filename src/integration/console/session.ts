import { sign, verify } from "hono/jwt";
import { z } from "zod";
import { randomSecret, toBase64Url } from "../../lib/ids.ts";

/** The console session cookie (`__Host-` prefixed: Secure, Path=/, no Domain, so no subdomain can set it). */
export const SESSION_COOKIE = "acme_bridge_console";

/** How long a console sign-in lasts, in seconds. */
export const SESSION_TTL_SECONDS = 8 * 60 * 60;

/** KV key marking a signed-out session, kept until the session would have expired anyway. */
const SIGNED_OUT_PREFIX = "console:signed-out:";

/** What the session cookie carries: an HS256 JWT, so its expiry is checked with its signature. */
export interface ConsoleSession {
  /** Session id; sign-out records it so the cookie stops working before it expires. */
  jti: string;
  /** The per-session CSRF token every state-changing form sends back. */
  csrf: string;
  /** Issued at and expiry, seconds since the epoch (RFC 7519). */
  iat: number;
  exp: number;
}

const SessionClaimsSchema = z.object({
  sub: z.literal("operator"),
  jti: z.string().min(16),
  csrf: z.string().min(16),
  iat: z.number().int(),
  exp: z.number().int(),
});

const keys = new Map<string, Promise<string>>();

/**
 * The cookie-signing key: HKDF-SHA256 of the admin token (RFC 5869), so no extra secret is needed,
 * the token itself never signs anything, and rotating the admin token ends every console session.
 */
export function sessionKey(adminToken: string): Promise<string> {
  let key = keys.get(adminToken);
  if (!key) {
    key = (async () => {
      const material = await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(adminToken),
        "HKDF",
        false,
        ["deriveBits"],
      );
      const bits = await crypto.subtle.deriveBits(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: new TextEncoder().encode("acme-bridge"),
          info: new TextEncoder().encode("console session cookie v1"),
        },
        material,
        256,
      );
      return toBase64Url(new Uint8Array(bits));
    })();
    keys.set(adminToken, key);
  }
  return key;
}

/** A new session for an operator who proved the admin token; `now` in ms. */
export async function issueSession(
  adminToken: string,
  now = Date.now(),
): Promise<{ session: ConsoleSession; cookieValue: string }> {
  const iat = Math.floor(now / 1000);
  const session: ConsoleSession = {
    jti: randomSecret(16),
    csrf: randomSecret(24),
    iat,
    exp: iat + SESSION_TTL_SECONDS,
  };
  const cookieValue = await sign({ sub: "operator", ...session }, await sessionKey(adminToken), "HS256");
  return { session, cookieValue };
}

/**
 * The session a cookie value proves, or null when it is missing, forged, expired or signed out.
 * Never throws for a bad cookie: the caller sends the browser to sign in.
 */
export async function readSession(
  adminToken: string,
  cookieValue: string | undefined,
  signedOut: KVNamespace,
): Promise<ConsoleSession | null> {
  if (!cookieValue) return null;
  let claims: unknown;
  try {
    claims = await verify(cookieValue, await sessionKey(adminToken), "HS256");
  } catch {
    return null;
  }
  // hono/jwt accepts a token without `exp`; a console session must have one.
  const parsed = SessionClaimsSchema.safeParse(claims);
  if (!parsed.success) return null;
  if ((await signedOut.get(SIGNED_OUT_PREFIX + parsed.data.jti)) !== null) return null;
  const { jti, csrf, iat, exp } = parsed.data;
  return { jti, csrf, iat, exp };
}

/** Records a sign-out, so a copy of the cookie kept elsewhere is refused too. */
export async function endSession(session: ConsoleSession, signedOut: KVNamespace, now = Date.now()) {
  // KV's shortest expiry is 60 s; a session with less left is recorded for that long.
  const ttl = Math.max(60, session.exp - Math.floor(now / 1000));
  await signedOut.put(SIGNED_OUT_PREFIX + session.jti, "1", { expirationTtl: ttl });
}
