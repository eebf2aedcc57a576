import type { MiddlewareHandler } from "hono";
import type { IntegrationEnv } from "./context.ts";

/** Run before the viewer: keeps its zod from probing for eval (public/assets/docs-no-eval.js). */
const NO_EVAL_SCRIPT = '<script src="/assets/docs-no-eval.js"></script>';

const INLINE_SCRIPT = /<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi;

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * The API reference page (`/docs`): never framed, and a Content-Security-Policy that lets the
 * self-hosted viewer run and nothing else: its script and the document from this origin, and
 * the page's own inline start-up script by its hash, computed from the page as rendered (so a
 * change to the viewer's configuration needs no change here). The viewer injects its styles at
 * run time, hence `style-src 'unsafe-inline'`. A script put first in the page's head keeps the
 * viewer from probing for eval, which the policy refuses (and a browser reports).
 */
export function docsSecurityHeaders(): MiddlewareHandler<IntegrationEnv> {
  return async function docsHeaders(c, next) {
    await next();
    if (!c.res.headers.get("content-type")?.startsWith("text/html")) return;
    const html = (await c.res.text()).replace("<head>", `<head>\n    ${NO_EVAL_SCRIPT}`);
    c.res = new Response(html, c.res);
    const hashes = await Promise.all(
      [...html.matchAll(INLINE_SCRIPT)].map(async ([, body]) => `'sha256-${await sha256Base64(body ?? "")}'`),
    );
    c.header(
      "Content-Security-Policy",
      [
        "default-src 'self'",
        `script-src 'self' ${hashes.join(" ")}`.trim(),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
      ].join("; "),
    );
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "same-origin");
  };
}
