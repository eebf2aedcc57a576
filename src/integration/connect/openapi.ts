import { type OpenAPIHono, z } from "@hono/zod-openapi";

const TAG = "Connect pages";

const html = (description: string) => ({
  description,
  content: { "text/html": { schema: z.string() } },
});

const redirect = (description: string) => ({
  description,
  headers: { Location: { schema: { type: "string" as const }, required: true } },
});

const TokenParam = z.object({
  token: z.string().openapi({
    description: "The connect session's token (`token` of POST /api/v1/admin/connect-sessions)",
    example: "cst_Xq3k9VwzP0aLrT7mB2nYc5dE8fG1hJ4kL6oQ9sU0vW2a3f9c1e0b7d4",
  }),
});

/**
 * Documents the hosted connect pages (HTML for end users' browsers, not an API): the page of a
 * connect session, its client-credentials form, and the OAuth callback Acme redirects to.
 */
export function registerConnectPages(registry: OpenAPIHono["openAPIRegistry"]): void {
  registry.registerPath({
    method: "get",
    path: "/connect/{token}",
    tags: [TAG],
    summary: "The hosted connect page of a connect session (for the end user's browser)",
    description:
      "OAuth: who is connecting and a link to Acme's sign-in and consent page (`state` and a PKCE S256 " +
      "challenge bound to the session, `redirect_uri` = `<public origin>/connect/callback`). Client " +
      "credentials: a form for the account's client id and secret. Only this origin's stylesheet, no " +
      "script, never cached or framed, no Referer sent on.",
    request: { params: TokenParam },
    responses: {
      200: html("The page"),
      404: html("No such connect link (or one minted by another deployment)"),
      410: html("The link was used or has expired"),
      500: html("Internal error; the page names the request id"),
    },
  });
  registry.registerPath({
    method: "post",
    path: "/connect/{token}",
    tags: [TAG],
    summary: "The client-credentials form: checked at Acme before anything is stored",
    description:
      "Form fields `clientId`, `clientSecret` and `_csrf` (bound to the page's cookie; the Origin must be " +
      "this one). Acme refusing the credentials shows the form again with an error: nothing is stored " +
      "and the link still works. Accepted: the connection is made (or repaired in place), subscribed " +
      "to Acme's webhooks and backfilled, the link used up, and the browser sent to " +
      "`redirectUrl?connectionId=…` (or shown a page).",
    request: {
      params: TokenParam,
      body: {
        required: true,
        content: {
          "application/x-www-form-urlencoded": {
            schema: z.object({ clientId: z.string(), clientSecret: z.string(), _csrf: z.string() }),
          },
        },
      },
    },
    responses: {
      200: html("Connected (no redirectUrl)"),
      303: redirect("Connected: to `redirectUrl?connectionId=…`"),
      400: html("The form again with what is wrong (Acme refused the credentials, a field is missing)"),
      403: html("CSRF check failed (another origin, or a stale form)"),
      404: html("No such connect link"),
      410: html("The link was used or has expired"),
      429: html("Acme refuses more attempts for now"),
      503: html("Acme is not answering"),
      500: html("Internal error; the page names the request id"),
      504: html("Acme did not answer in time"),
    },
  });
  registry.registerPath({
    method: "get",
    path: "/connect/callback",
    tags: [TAG],
    summary: "Where Acme sends the browser back (the redirect_uri of every OAuth connect session)",
    description:
      "An unknown or already used `state`: 400 page, nothing else. A known one uses up its session: " +
      "with `error` (e.g. `access_denied`), an expired session (`session_expired`) or a code Acme " +
      "refuses to exchange (`invalid_grant`: used, expired, or the PKCE verifier does not match) the " +
      "browser is sent on to `redirectUrl?error=…` (or shown a 400 page) and nothing is created. Otherwise the " +
      "code is exchanged, the connection created (or the end user's connection to the same Acme " +
      "account repaired in place: same id, same data), its grant installed, subscribed to Acme's " +
      "webhooks and its backfill started, then the browser is sent on to `redirectUrl?connectionId=…` " +
      "(or shown a page). Sent on by a page (meta refresh and a link), not an HTTP redirect: the browser " +
      "arrives through Acme's consent form, whose Content-Security-Policy form-action would block a " +
      "redirect to the product's origin.",
    request: {
      query: z.object({
        state: z.string().optional(),
        code: z.string().optional(),
        error: z.string().optional(),
      }),
    },
    responses: {
      200: html(
        "Connected (no redirectUrl), or a page sending the browser on to `redirectUrl` with `connectionId` or `error`",
      ),
      400: html("Unknown or used state, or the flow failed and the session has no redirectUrl"),
      500: html("Internal error; the page names the request id"),
    },
  });
}
