import type { MiddlewareHandler } from "hono";
import { deleteCookie, getCookie } from "hono/cookie";
import { timingSafeEqualStrings } from "../../lib/crypto.ts";
import type { ConsoleEnv } from "./context.ts";
import { OPERATOR_COOKIE, readOperatorCookie } from "./operator-cookie.ts";

/** Where a browser without a sign-in is sent. */
export const SIGN_IN_PATH = "/console/sign-in";

/** How long a browser keeps to HTTPS for this host once it saw the console (a year, in seconds). */
const HSTS_MAX_AGE_SECONDS = 31_536_000;

/**
 * Console pages hold operator data: never cached, never framed, scripts and styles only from this
 * origin (the page has no inline script; htmx is configured not to add inline styles), and, but in
 * local development (ENVIRONMENT "development", plain http), HTTPS only (Strict-Transport-Security).
 */
export function consoleSecurityHeaders(): MiddlewareHandler<ConsoleEnv> {
  return async function consoleHeaders(c, next) {
    await next();
    c.header("Cache-Control", "no-store");
    c.header(
      "Content-Security-Policy",
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    );
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "same-origin");
    if (c.var.config.environment !== "development") {
      c.header("Strict-Transport-Security", `max-age=${HSTS_MAX_AGE_SECONDS}`);
    }
  };
}

/**
 * Lets a request through only with a valid, unexpired, not signed-out sign-in cookie; otherwise
 * sends the browser to sign in (303; htmx requests get `HX-Redirect`, so the whole page moves).
 */
export function requireOperator(): MiddlewareHandler<ConsoleEnv> {
  return async function signedInOperator(c, next) {
    const cookie = getCookie(c, OPERATOR_COOKIE, "host");
    const signIn = await readOperatorCookie(c.var.config.adminToken, cookie, c.env.CACHE);
    if (!signIn) {
      if (cookie !== undefined) deleteCookie(c, OPERATOR_COOKIE, { path: "/", secure: true, prefix: "host" });
      const target =
        c.req.method === "GET" ? `${SIGN_IN_PATH}?next=${encodeURIComponent(c.req.path)}` : SIGN_IN_PATH;
      if (c.req.header("HX-Request") === "true") {
        c.header("HX-Redirect", target);
        return c.body(null, 204);
      }
      return c.redirect(target, 303);
    }
    c.set("operator", signIn);
    await next();
  };
}

/**
 * The synchronizer token check (OWASP): a state-changing request must carry the sign-in's CSRF
 * token in `_csrf` (form) or `X-CSRF-Token` (htmx). hono/csrf's Origin check runs before this.
 */
export function requireCsrfToken(): MiddlewareHandler<ConsoleEnv> {
  return async function csrfToken(c, next) {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    let sent = c.req.header("X-CSRF-Token");
    if (!sent) {
      const form = await c.req.parseBody();
      sent = typeof form._csrf === "string" ? form._csrf : undefined;
    }
    if (!sent || !(await timingSafeEqualStrings(sent, c.var.operator.csrf))) {
      return c.text(
        "This form is out of date or did not come from the console. Reload the page and try again.",
        403,
      );
    }
    await next();
  };
}
