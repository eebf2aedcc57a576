import { sign, verify } from "hono/jwt";
import { z } from "zod";
import { randomSecret, toBase64Url } from "../../lib/ids.ts";

/** The operator's sign-in cookie (`__Host-` prefixed: Secure, Path=/, no Domain, so no subdomain can set it). */
export const OPERATOR_COOKIE = "acme_bridge_console";

/** How long a console sign-in lasts, in seconds. */
export const OPERATOR_SIGN_IN_TTL_SECONDS = 8 * 60 * 60;

/** KV key marking a signed-out sign-in, kept until it would have expired anyway. */
const SIGNED_OUT_PREFIX = "console:signed-out:";

/** An operator's sign-in, as the cookie carries it: an HS256 JWT, so its expiry is checked with its signature. */
export interface OperatorSignIn {
  /** Sign-in id; sign-out records it so the cookie stops working before it expires. */
  jti: string;
  /** The per-sign-in CSRF token every state-changing form sends back. */
  csrf: string;
  /** Issued at and expiry, seconds since the epoch (RFC 7519). */
  iat: number;
  exp: number;
}

const OperatorClaimsSchema = z.object({
  sub: z.literal("operator"),
  jti: z.string().min(16),
  csrf: z.string().min(16),
  iat: z.number().int(),
  exp: z.number().int(),
});

const keys = new Map<string, Promise<string>>();

/**
 * The cookie-signing key: HKDF-SHA256 of the admin token (RFC 5869), so no extra secret is needed,
 * the token itself never signs anything, and rotating the admin token ends every operator's sign-in.
 */
export function operatorCookieKey(adminToken: string): Promise<string> {
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
          // The label predates the name "sign-in"; another label would sign every operator out.
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

/** A new sign-in and its cookie value, for an operator who proved the admin token; `now` in ms. */
export async function issueOperatorCookie(
  adminToken: string,
  now = Date.now(),
): Promise<{ signIn: OperatorSignIn; cookieValue: string }> {
  const iat = Math.floor(now / 1000);
  const signIn: OperatorSignIn = {
    jti: randomSecret(16),
    csrf: randomSecret(24),
    iat,
    exp: iat + OPERATOR_SIGN_IN_TTL_SECONDS,
  };
  const cookieValue = await sign(
    { sub: "operator", ...signIn },
    await operatorCookieKey(adminToken),
    "HS256",
  );
  return { signIn, cookieValue };
}

/**
 * The sign-in a cookie value proves, or null when it is missing, forged, expired or signed out.
 * Never throws for a bad cookie: the caller sends the browser to sign in.
 */
export async function readOperatorCookie(
  adminToken: string,
  cookieValue: string | undefined,
  signedOut: KVNamespace,
): Promise<OperatorSignIn | null> {
  if (!cookieValue) return null;
  let claims: unknown;
  try {
    claims = await verify(cookieValue, await operatorCookieKey(adminToken), "HS256");
  } catch {
    return null;
  }
  // hono/jwt accepts a token without `exp`; a sign-in must have one.
  const parsed = OperatorClaimsSchema.safeParse(claims);
  if (!parsed.success) return null;
  if ((await signedOut.get(SIGNED_OUT_PREFIX + parsed.data.jti)) !== null) return null;
  const { jti, csrf, iat, exp } = parsed.data;
  return { jti, csrf, iat, exp };
}

/** Records a sign-out, so a copy of the cookie kept elsewhere is refused too. */
export async function signOutOperator(signIn: OperatorSignIn, signedOut: KVNamespace, now = Date.now()) {
  // KV's shortest expiry is 60 s; a sign-in with less left is recorded for that long.
  const ttl = Math.max(60, signIn.exp - Math.floor(now / 1000));
  await signedOut.put(SIGNED_OUT_PREFIX + signIn.jti, "1", { expirationTtl: ttl });
}
