import { type Context, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import type { JSX } from "hono/jsx/jsx-runtime";
import { timingSafeEqualStrings } from "../../lib/crypto.ts";
import { randomSecret } from "../../lib/ids.ts";
import { errorFields, log } from "../../lib/logger.ts";
import { s256Challenge } from "../../lib/pkce.ts";
import { transportFor } from "../acme-client/transport.ts";
import { requireOAuthApp } from "../config.ts";
import type { IntegrationEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import {
  type AcmeTarget,
  authorizeUrl,
  checkClientCredentials,
  exchangeAuthorizationCode,
  oauthErrorCode,
} from "./acme-oauth.ts";
import {
  ConnectFailure,
  completeClientCredentialsConnect,
  completeOAuthConnect,
} from "./complete-connect.ts";
import { formTokenFor, isOurConnectToken, stateFor } from "./connect-tokens.ts";
import { connectCallbackUrl, connectOrigin } from "./origin.ts";
import { ContinuePage, CredentialsPage, MessagePage, OAuthStartPage } from "./pages.tsx";
import { redirectWith } from "./redirect-url.ts";
import type { ConnectSessionRow } from "./session-object.ts";
import {
  claimSession,
  claimSessionByState,
  findConnectSession,
  sessionUsable,
  verifierContext,
} from "./session-store.ts";

/** How long a browser keeps to HTTPS for this host once it saw a connect page (a year, seconds). */
const HSTS_MAX_AGE_SECONDS = 31_536_000;

/** The client-credentials form's cookie (`__Host-connect_form`): the nonce its CSRF token is bound to. */
const FORM_COOKIE = "connect_form";

/** A connect page that ends the request: its status, title and message. */
export class ConnectPageError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 410 | 429 | 500 | 502 | 503 | 504,
    readonly title: string,
    message: string,
  ) {
    super(message);
    this.name = "ConnectPageError";
  }
}

/**
 * Connect pages are shown to end users with a secret in their URL: never cached, never framed,
 * never sent on as a Referer, styles from this origin only and no script at all; forms post to this
 * origin (and, after a post, may be redirected to `formTargets`, the session's redirectUrl origin).
 * HTTPS only (Strict-Transport-Security) but in local development.
 */
function securePage(c: Context<IntegrationEnv>, formTargets: string[] = []): void {
  c.header("Cache-Control", "no-store");
  c.header(
    "Content-Security-Policy",
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; " +
      `form-action ${["'self'", ...formTargets].join(" ")}; base-uri 'none'`,
  );
  c.header("Referrer-Policy", "no-referrer");
  c.header("X-Frame-Options", "DENY");
  if (c.var.config.environment !== "development") {
    c.header("Strict-Transport-Security", `max-age=${HSTS_MAX_AGE_SECONDS}`);
  }
}

function page(
  c: Context<IntegrationEnv>,
  content: JSX.Element,
  status: 200 | ConnectPageError["status"],
  formTargets?: string[],
) {
  securePage(c, formTargets);
  return c.html(content, status);
}

const NO_SUCH_LINK = new ConnectPageError(
  404,
  "No such connect link",
  "This connect link does not exist. Ask the app that sent you for a new one.",
);

/**
 * The usable session behind `token`: 404 (no D1 read) for a token not minted here, 404 for none
 * stored, 410 for one used or expired. One D1 read.
 */
async function usableSession(c: Context<IntegrationEnv>, token: string): Promise<ConnectSessionRow> {
  if (!(await isOurConnectToken(c.var.config.idTagKey, token))) throw NO_SUCH_LINK;
  const session = await findConnectSession(c.env.CONNECT_SESSIONS, c.var.config.idTagKey, token);
  if (!session) throw NO_SUCH_LINK;
  if (!sessionUsable(session, Date.now())) {
    throw new ConnectPageError(
      410,
      "This connect link is no longer valid",
      session.usedAt !== null
        ? "This connect link was already used (a connection made or declined with it). Ask the app that sent you for a new one."
        : "This connect link has expired. Ask the app that sent you for a new one.",
    );
  }
  return session;
}

/** Acme's token endpoint as this request reaches it (in-process for the mock in this Worker). */
function acmeTarget(c: Context<IntegrationEnv>): AcmeTarget {
  const { config } = c.var;
  return { ...transportFor(config.acmeBaseUrl, c.var.acmeTransport), timeoutMs: config.acmeAttemptTimeoutMs };
}

/** The origin of a session's redirectUrl (where a form post may end up), if it has one. */
function redirectOrigins(session: ConnectSessionRow): string[] {
  return session.redirectUrl ? [new URL(session.redirectUrl).origin] : [];
}

/**
 * The end of a successful flow: on to the product's redirectUrl with the connection's id (an HTTP
 * redirect after our own form; a page that moves on after Acme's, see ContinuePage), or a page.
 */
function connected(
  c: Context<IntegrationEnv>,
  session: ConnectSessionRow,
  connectionId: string,
  via: "form" | "callback",
) {
  if (session.redirectUrl) {
    const target = redirectWith(session.redirectUrl, { connectionId });
    if (via === "form") return c.redirect(target, 303);
    return page(
      c,
      <ContinuePage
        title="Connected"
        message="Your Acme account is connected. Taking you back…"
        target={target}
      />,
      200,
    );
  }
  return page(
    c,
    <MessagePage title="Connected" message="Your Acme account is connected. You can close this page." />,
    200,
  );
}

/** The end of a failed OAuth flow: on to the product's redirectUrl with `error`, or a page saying `message`. */
function failed(c: Context<IntegrationEnv>, session: ConnectSessionRow, error: string, message: string) {
  if (session.redirectUrl) {
    const target = redirectWith(session.redirectUrl, { error });
    return page(
      c,
      <ContinuePage title="Not connected" message={`${message} Taking you back…`} target={target} />,
      200,
    );
  }
  return page(c, <MessagePage title="Not connected" message={message} alert />, 400);
}

/** Reads the form's nonce cookie, or sets a new one; returns it. */
function formNonce(c: Context<IntegrationEnv>): string {
  const existing = getCookie(c, FORM_COOKIE, "host");
  if (existing && /^[A-Za-z0-9_-]{22}$/.test(existing)) return existing;
  const nonce = randomSecret(16);
  setCookie(c, FORM_COOKIE, nonce, {
    prefix: "host",
    path: "/",
    secure: true,
    httpOnly: true,
    sameSite: "Strict",
  });
  return nonce;
}

/** RFC 6749 A.1, A.2: client ids and secrets are VSCHAR (%x20-7E). */
const VSCHAR = /^[\x20-\x7e]+$/;

function credentialsProblem(clientId: unknown, clientSecret: unknown): string | null {
  if (
    typeof clientId !== "string" ||
    clientId.length === 0 ||
    clientId.length > 200 ||
    !VSCHAR.test(clientId)
  )
    return "Enter the client id: 1 to 200 printable ASCII characters.";
  if (
    typeof clientSecret !== "string" ||
    clientSecret.length === 0 ||
    clientSecret.length > 500 ||
    !VSCHAR.test(clientSecret)
  )
    return "Enter the client secret: 1 to 500 printable ASCII characters.";
  return null;
}

/**
 * The hosted connect pages, mounted at /connect: `GET /{token}` (the start page, or the
 * client-credentials form), `POST /{token}` (that form) and `GET /callback` (Acme's redirect).
 * Errors are HTML pages; nothing here answers problem+json.
 */
export const connectPageRouter = new Hono<IntegrationEnv>();

connectPageRouter.get("/callback", async (c) => {
  const { config } = c.var;
  const state = c.req.query("state");
  const now = Date.now();
  const session =
    state && state.length <= 200 ? await claimSessionByState(c.env.CONNECT_SESSIONS, state, now) : null;
  if (session?.method !== "oauth") {
    throw new ConnectPageError(
      400,
      "Unknown or used sign-in",
      "This sign-in is unknown or was already completed. Start again from the app that sent you.",
    );
  }
  if (session.expiresAt <= now) {
    return failed(c, session, "session_expired", "This connect link expired before you came back from Acme.");
  }
  const error = c.req.query("error");
  if (error !== undefined) {
    const code = oauthErrorCode(error);
    return failed(
      c,
      session,
      code,
      code === "access_denied"
        ? "You declined to connect your Acme account. To connect it after all, ask the app that sent you for a new link."
        : `Acme answered ${code}.`,
    );
  }
  const code = c.req.query("code");
  if (!code || code.length > 1000) return failed(c, session, "invalid_request", "Acme sent no code.");
  const origin = connectOrigin(config, c.req.url);
  try {
    if (!session.codeVerifierEnc) throw new Error("an OAuth session without a verifier");
    const codeVerifier = await config.secretKeys.open(session.codeVerifierEnc, verifierContext(session.id));
    const exchanged = await exchangeAuthorizationCode(acmeTarget(c), requireOAuthApp(config), {
      code,
      codeVerifier,
      redirectUri: connectCallbackUrl(origin),
    });
    if (exchanged.kind === "refused") {
      log("info", "connect: code exchange refused", { requestId: c.var.requestId, error: exchanged.error });
      return failed(c, session, exchanged.error, `Acme refused the sign-in (${exchanged.error}).`);
    }
    const { connectionId } = await completeOAuthConnect(c, session, exchanged, origin);
    return connected(c, session, connectionId, "callback");
  } catch (error) {
    if (error instanceof ConnectFailure) return failed(c, session, error.error, error.message);
    const unavailable = error instanceof ApiError && error.status >= 503;
    log(unavailable ? "warn" : "error", "connect: callback failed", {
      requestId: c.var.requestId,
      sessionId: session.id,
      ...errorFields(error),
    });
    return failed(
      c,
      session,
      unavailable ? "temporarily_unavailable" : "server_error",
      "Something went wrong while connecting. Start again from the app that sent you.",
    );
  }
});

connectPageRouter.get("/:token", async (c) => {
  const token = c.req.param("token");
  const session = await usableSession(c, token);
  const { config } = c.var;
  const expiresAt = new Date(session.expiresAt).toISOString();
  if (session.method === "client_credentials") {
    const csrfToken = await formTokenFor(config.idTagKey, token, formNonce(c));
    return page(
      c,
      <CredentialsPage
        endUserId={session.endUserId}
        expiresAt={expiresAt}
        action={`/connect/${token}`}
        csrf={csrfToken}
      />,
      200,
      redirectOrigins(session),
    );
  }
  if (!session.codeVerifierEnc) throw new Error("an OAuth session without a verifier");
  const origin = connectOrigin(config, c.req.url);
  const verifier = await config.secretKeys.open(session.codeVerifierEnc, verifierContext(session.id));
  const url = authorizeUrl(config.acmeBaseUrl ?? `${origin}/acme`, {
    clientId: requireOAuthApp(config).clientId,
    redirectUri: connectCallbackUrl(origin),
    state: await stateFor(config.idTagKey, token),
    codeChallenge: await s256Challenge(verifier),
  });
  return page(
    c,
    <OAuthStartPage endUserId={session.endUserId} expiresAt={expiresAt} authorizeUrl={url} />,
    200,
  );
});

connectPageRouter.post("/:token", csrf(), async (c) => {
  const token = c.req.param("token");
  const session = await usableSession(c, token);
  const { config } = c.var;
  if (session.method !== "client_credentials") {
    throw new ConnectPageError(
      400,
      "Nothing to send",
      "This connect link continues at Acme, not with a form.",
    );
  }
  const form = await c.req.parseBody();
  const nonce = getCookie(c, FORM_COOKIE, "host");
  const sent = typeof form._csrf === "string" ? form._csrf : "";
  if (!nonce || !(await timingSafeEqualStrings(sent, await formTokenFor(config.idTagKey, token, nonce)))) {
    throw new ConnectPageError(
      403,
      "Form out of date",
      "This form is out of date. Reload the page and try again.",
    );
  }
  const expiresAt = new Date(session.expiresAt).toISOString();
  const again = (alert: string, status: 400 | 429) =>
    page(
      c,
      <CredentialsPage
        endUserId={session.endUserId}
        expiresAt={expiresAt}
        action={`/connect/${token}`}
        csrf={sent}
        clientId={typeof form.clientId === "string" ? form.clientId.slice(0, 200) : undefined}
        alert={alert}
      />,
      status,
      redirectOrigins(session),
    );
  const problem = credentialsProblem(form.clientId, form.clientSecret);
  if (problem) return again(problem, 400);
  const credentials = { clientId: form.clientId as string, clientSecret: form.clientSecret as string };
  const verdict = await checkClientCredentials(acmeTarget(c), credentials);
  if (verdict === "invalid")
    return again("Acme did not accept this client id and secret. Check them and try again.", 400);
  if (verdict === "limited")
    return again("Acme refuses more attempts for now. Wait a few minutes and try again.", 429);
  try {
    const { connectionId } = await completeClientCredentialsConnect(
      c,
      session,
      credentials,
      connectOrigin(config, c.req.url),
      () => claimSession(c.env.CONNECT_SESSIONS, session, Date.now()),
    );
    securePage(c, redirectOrigins(session));
    return connected(c, session, connectionId, "form");
  } catch (error) {
    if (!(error instanceof ConnectFailure)) throw error;
    if (error.error === "session_used") {
      throw new ConnectPageError(
        410,
        "This connect link is no longer valid",
        "This connect link was already used.",
      );
    }
    return again(error.message, 400);
  }
});

connectPageRouter.onError((error, c) => {
  let failure: ConnectPageError;
  if (error instanceof ConnectPageError) {
    failure = error;
  } else if (error instanceof HTTPException && error.status === 403) {
    // hono/csrf: a form posted from another origin.
    failure = new ConnectPageError(
      403,
      "Form refused",
      "This form was sent from another site, so it was refused.",
    );
  } else if (
    error instanceof ApiError &&
    (error.status === 503 || error.status === 504 || error.status === 429)
  ) {
    failure = new ConnectPageError(
      error.status,
      "Acme is not answering",
      "Acme is not answering right now. Try again in a minute.",
    );
  } else {
    log("error", "connect page failed", {
      requestId: c.var.requestId,
      path: c.req.path,
      ...errorFields(error),
    });
    failure = new ConnectPageError(
      500,
      "Something went wrong",
      `Something went wrong; quote request ${c.var.requestId} when reporting it.`,
    );
  }
  return page(c, <MessagePage title={failure.title} message={failure.message} alert />, failure.status);
});
