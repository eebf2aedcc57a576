import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { randomSecret } from "../../lib/ids.ts";
import { decodeForm, decodeUtf8 } from "../../lib/unicode-text.ts";
import { verifyPassword } from "../auth/password.ts";
import { identityBody } from "../content-coding.ts";
import { type AcmeEnv, createAcmeRouter } from "../context.ts";
import { AcmeError } from "../errors.ts";
import { errorResponses } from "../openapi-schemas.ts";
import { rateLimitHeaders } from "../rate-limit/fixed-window.ts";
import { limiterFor } from "../rate-limit/limiter-client.ts";
import { AuthorizeErrorPage, AuthorizePage } from "./authorize-page.tsx";
import {
  type AuthorizationRequest,
  type AuthorizeOutcome,
  checkAuthorizationRequest,
  MAX_STATE_LENGTH,
} from "./authorize-request.ts";
import { csrfTokenMatches, issueCsrfToken } from "./csrf.ts";
import { GrantStore } from "./grant-store.ts";
import { redirectOrigin, withQuery } from "./redirect-uri.ts";

type PageStatus = 200 | 400 | 401 | 403 | 429;

/**
 * The page's headers: nothing loads from anywhere (styles only by nonce), the form posts only to
 * Acme and (for the redirect that follows it) the registered redirect URI's origin, never framed,
 * never cached, no referrer (the page's URL carries the request).
 */
function securePage(c: Context<AcmeEnv>, nonce: string, redirectUri: string | null) {
  const formAction = redirectUri ? `'self' ${redirectOrigin(redirectUri)}` : "'self'";
  c.header(
    "Content-Security-Policy",
    `default-src 'none'; style-src 'nonce-${nonce}'; form-action ${formAction}; frame-ancestors 'none'; ` +
      "base-uri 'none'",
  );
  c.header("X-Frame-Options", "DENY");
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
}

async function consentPage(
  c: Context<AcmeEnv>,
  request: AuthorizationRequest,
  status: PageStatus,
  extra: { email?: string; error?: string } = {},
) {
  const nonce = randomSecret(16);
  securePage(c, nonce, request.redirectUri);
  const csrf = await issueCsrfToken(c);
  return c.html(
    <AuthorizePage nonce={nonce} action={c.req.path} request={request} csrf={csrf} {...extra} />,
    status,
  );
}

function errorPage(c: Context<AcmeEnv>, status: PageStatus, title: string, message: string) {
  const nonce = randomSecret(16);
  securePage(c, nonce, null);
  return c.html(<AuthorizeErrorPage nonce={nonce} title={title} message={message} />, status);
}

/** RFC 6749 4.1.2 / 4.1.2.1: back to the client's registered redirect URI, with `state`. */
function redirectBack(c: Context<AcmeEnv>, redirectUri: string, params: Record<string, string | undefined>) {
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
  return c.redirect(withQuery(redirectUri, params), 302);
}

function answerInvalid(c: Context<AcmeEnv>, outcome: Exclude<AuthorizeOutcome, { kind: "valid" }>) {
  if (outcome.kind === "fatal")
    return errorPage(c, 400, "This request cannot be authorized", outcome.message);
  return redirectBack(c, outcome.redirectUri, {
    error: outcome.error,
    error_description: outcome.description,
    state: outcome.state,
  });
}

const HtmlPage = z.string().openapi({ example: '<!DOCTYPE html><html lang="en">…</html>' });

const pageResponse = (description: string) => ({
  description,
  content: { "text/html": { schema: HtmlPage } },
});

const redirectResponse = {
  description:
    "Back to the registered redirect_uri: `code` and `state` after approval, or `error` (invalid_request, " +
    "unsupported_response_type, invalid_scope, access_denied), `error_description` and `state`",
  headers: {
    Location: {
      required: true,
      schema: { type: "string" as const },
      example: "https://bridge.example.com/connect/callback?code=ac_Qm9x&state=xyz",
    },
  },
};

const AuthorizeQuery = z.object({
  response_type: z.string().openapi({ description: "Must be `code`", example: "code" }),
  client_id: z
    .string()
    .openapi({ description: "The app's client_id", example: "app_01jd5x8m3q0000000000000000" }),
  redirect_uri: z.string().openapi({
    description: "One of the app's registered redirect URIs, exactly",
    example: "https://bridge.example.com/connect/callback",
  }),
  scope: z.string().optional().openapi({
    description: "Space-separated; absent: every scope",
    example: "contacts.read contacts.write",
  }),
  state: z
    .string()
    .max(MAX_STATE_LENGTH)
    .optional()
    .openapi({ description: "Returned unchanged with the code or error", example: "af0ifjsldkj" }),
  code_challenge: z.string().openapi({
    description: "RFC 7636: BASE64URL(SHA-256(code_verifier))",
    example: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
  }),
  code_challenge_method: z.string().openapi({ description: "Must be `S256`", example: "S256" }),
});

const AuthorizeForm = AuthorizeQuery.extend({
  csrf: z.string().openapi({ description: "The page's hidden CSRF token (bound to its cookie)" }),
  email: z.string().optional(),
  password: z.string().optional(),
  decision: z.enum(["approve", "deny"]),
}).openapi("AcmeAuthorizeForm", {
  example: {
    response_type: "code",
    client_id: "app_01jd5x8m3q0000000000000000",
    redirect_uri: "https://bridge.example.com/connect/callback",
    scope: "contacts.read contacts.write",
    state: "af0ifjsldkj",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
    csrf: "kq3YxVb4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT1pL",
    email: "ada@example.com",
    password: "correct horse battery staple",
    decision: "approve",
  },
});

export const authorizeRouter = createAcmeRouter();

authorizeRouter.openAPIRegistry.registerPath({
  method: "get",
  path: "/oauth/authorize",
  tags: ["OAuth"],
  summary: "Sign-in and consent page (RFC 6749 4.1.1, PKCE S256 required)",
  description:
    "An HTML page: the app's name, the scopes asked for, email and password, Approve / Deny. An unknown " +
    "client_id or a redirect_uri not registered exactly answers 400 with an HTML page and never redirects; " +
    "every other error redirects to the redirect_uri with `error` and `state`.",
  request: { query: AuthorizeQuery },
  responses: {
    200: pageResponse("The sign-in and consent page"),
    302: redirectResponse,
    400: {
      description: "Unknown client or redirect URI (HTML page), or a query that is not UTF-8 (Acme's format)",
      content: { "text/html": { schema: HtmlPage }, ...errorResponses(400)[400].content },
    },
    ...errorResponses(413),
  },
});

authorizeRouter.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/authorize",
  tags: ["OAuth"],
  summary: "Sign in and approve or deny (the consent page's form)",
  description:
    "Deny redirects with error=access_denied. Approve with the right password redirects with a single-use " +
    "code (60 s, bound to the client, redirect_uri and code_challenge). A wrong password shows the page " +
    "again (401); failed sign-ins per email are limited like failed client secrets (429). A missing or " +
    "wrong CSRF token (the form did not come from this browser's page) is 403.",
  request: {
    body: { required: true, content: { "application/x-www-form-urlencoded": { schema: AuthorizeForm } } },
  },
  responses: {
    302: redirectResponse,
    400: {
      description: "Unknown client or redirect URI, or a malformed form (HTML page)",
      content: { "text/html": { schema: HtmlPage }, ...errorResponses(400)[400].content },
    },
    401: pageResponse("Wrong email or password: the page again, with the error"),
    403: pageResponse("Missing or wrong CSRF token"),
    429: pageResponse("Too many failed sign-ins for this email; see Retry-After"),
    ...errorResponses(413, 415),
  },
});

authorizeRouter.get("/oauth/authorize", async (c) => {
  const pairs = new URL(c.req.url).searchParams;
  const outcome = await checkAuthorizationRequest(c.env.ACME_DB, [...pairs]);
  if (outcome.kind !== "valid") return answerInvalid(c, outcome);
  return consentPage(c, outcome.request, 200);
});

const FORM_FIELDS = new Set(["csrf", "email", "password", "decision"]);

authorizeRouter.post("/oauth/authorize", identityBody(), async (c) => {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw new AcmeError("unsupported_media_type", "Send the form as application/x-www-form-urlencoded.");
  }
  const text = decodeUtf8(await c.req.arrayBuffer());
  const decoded = text === null ? null : decodeForm(text);
  if (decoded === null || "illFormed" in decoded) {
    return errorPage(c, 400, "This request cannot be authorized", "The form is not valid UTF-8.");
  }
  const form = new Map<string, string[]>();
  for (const [name, value] of decoded.pairs) form.set(name, [...(form.get(name) ?? []), value]);
  const field = (name: string) => {
    const all = form.get(name) ?? [];
    return all.length === 1 ? all[0] : undefined;
  };

  if (!(await csrfTokenMatches(c, field("csrf")))) {
    return errorPage(
      c,
      403,
      "This form has expired",
      "The form did not come from Acme's page in this browser, or it is too old.",
    );
  }
  const outcome = await checkAuthorizationRequest(
    c.env.ACME_DB,
    decoded.pairs.filter(([name]) => !FORM_FIELDS.has(name)),
  );
  if (outcome.kind !== "valid") return answerInvalid(c, outcome);
  const request = outcome.request;

  const decision = field("decision");
  if (decision === "deny") {
    return redirectBack(c, request.redirectUri, {
      error: "access_denied",
      error_description: "The user denied the request.",
      state: request.state,
    });
  }
  if (decision !== "approve") return consentPage(c, request, 400, { error: "Choose Approve or Deny." });

  const email = field("email") ?? "";
  const password = field("password") ?? "";
  if (!email || !password) {
    return consentPage(c, request, 401, { email, error: "Enter your email and password." });
  }
  const config = c.var.config;
  const emailKey = email.toLowerCase();
  // Failed sign-ins count per email, as failed client secrets count per client.
  const limiter = limiterFor(c.env, `sign-in:${emailKey}`);
  const failures = await limiter.peek("token_failure", config.rateLimits.token_failure);
  if (!failures.allowed) {
    for (const [name, value] of Object.entries(rateLimitHeaders("token_failure", failures)))
      c.header(name, value);
    c.header("Retry-After", String(failures.resetSeconds));
    return errorPage(
      c,
      429,
      "Too many failed sign-ins",
      `Too many wrong passwords for this email. Try again in ${failures.resetSeconds} seconds.`,
    );
  }
  const user = await c.env.ACME_DB.prepare(
    "SELECT id, account_id, password_hash FROM account_users WHERE email_key = ?",
  )
    .bind(emailKey)
    .first<{ id: string; account_id: string; password_hash: string }>();
  if (!(await verifyPassword(password, user?.password_hash ?? null)) || !user) {
    await limiter.consume("token_failure", config.rateLimits.token_failure);
    return consentPage(c, request, 401, { email, error: "Wrong email or password." });
  }

  const code = await new GrantStore(c.env.ACME_DB).createCode({
    appClientId: request.clientId,
    accountId: user.account_id,
    userId: user.id,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    scope: request.scope,
    now: Date.now(),
  });
  return redirectBack(c, request.redirectUri, { code, state: request.state });
});
