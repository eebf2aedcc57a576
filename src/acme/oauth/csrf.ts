import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { hmacSha256, timingSafeEqualStrings } from "../../lib/crypto.ts";
import { randomSecret, toBase64Url } from "../../lib/ids.ts";
import type { AcmeEnv } from "../context.ts";

/** The consent page's CSRF cookie (`__Host-` prefixed: Secure, Path=/, no Domain). */
export const CSRF_COOKIE = "acme_authorize_csrf";
/** How long one cookie serves the page, in seconds. */
const CSRF_COOKIE_MAX_AGE = 3600;
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** The form's token: a keyed hash of the cookie, so a page's form works only beside its cookie. */
async function formToken(pepper: string, cookie: string): Promise<string> {
  return toBase64Url(await hmacSha256(pepper, `acme authorize csrf v1:${cookie}`));
}

/**
 * The token for the page's hidden field. Reuses the browser's CSRF cookie when it has one (so two
 * open tabs both work), else sets a new one (HttpOnly, SameSite=Lax: a cross-site POST comes without it).
 */
export async function issueCsrfToken(c: Context<AcmeEnv>): Promise<string> {
  let cookie = getCookie(c, CSRF_COOKIE, "host");
  if (!cookie || !COOKIE_VALUE.test(cookie)) {
    cookie = randomSecret(32);
    setCookie(c, CSRF_COOKIE, cookie, {
      prefix: "host",
      path: "/",
      secure: true,
      httpOnly: true,
      sameSite: "Lax",
      maxAge: CSRF_COOKIE_MAX_AGE,
    });
  }
  return formToken(c.var.config.clientSecretPepper, cookie);
}

/** Whether the form's token belongs to the request's CSRF cookie (compared in constant time). */
export async function csrfTokenMatches(c: Context<AcmeEnv>, token: string | undefined): Promise<boolean> {
  const cookie = getCookie(c, CSRF_COOKIE, "host");
  if (!cookie || !COOKIE_VALUE.test(cookie) || !token) return false;
  return timingSafeEqualStrings(token, await formToken(c.var.config.clientSecretPepper, cookie));
}
