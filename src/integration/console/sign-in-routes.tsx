import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { timingSafeEqualStrings } from "../../lib/crypto.ts";
import { log } from "../../lib/logger.ts";
import { createConsoleRouter } from "./context.ts";
import { Page } from "./layout.tsx";
import {
  issueOperatorCookie,
  OPERATOR_COOKIE,
  OPERATOR_SIGN_IN_TTL_SECONDS,
  readOperatorCookie,
  signOutOperator,
} from "./operator-cookie.ts";

const HOME = "/console/connections";

/** Only a console path may be the target after sign-in (no open redirect to another site). */
export function safeNext(next: string | undefined): string {
  return next && /^\/console(\/[\w\-./]*)?$/.test(next) && !next.includes("..") ? next : HOME;
}

function SignInForm(props: { next: string; failed: boolean; signedOut: boolean }) {
  return (
    <Page
      title="Sign in"
      operator={null}
      notice={
        props.failed
          ? { kind: "alert", text: "That is not the integration's admin token." }
          : props.signedOut
            ? { kind: "status", text: "You are signed out." }
            : undefined
      }
    >
      <form method="post" action="/console/sign-in" class="card narrow">
        <input type="hidden" name="next" value={props.next} />
        <label for="token">Admin token</label>
        <p class="hint" id="token-hint">
          The integration's <code>ADMIN_TOKEN</code> (locally in <code>.dev.vars</code>).
        </p>
        <input
          id="token"
          name="token"
          type="password"
          required
          autocomplete="off"
          spellcheck={false}
          aria-describedby="token-hint"
          aria-invalid={props.failed ? "true" : undefined}
        />
        <button type="submit">Sign in</button>
      </form>
    </Page>
  );
}

/** Sign-in (the admin token buys a sign-in cookie) and sign-out; the token is never echoed or logged. */
export const signInRouter = createConsoleRouter()
  .get("/sign-in", async (c) => {
    const next = safeNext(c.req.query("next"));
    const current = await readOperatorCookie(
      c.var.config.adminToken,
      getCookie(c, OPERATOR_COOKIE, "host"),
      c.env.CACHE,
    );
    if (current) return c.redirect(next, 303);
    return c.html(<SignInForm next={next} failed={false} signedOut={c.req.query("signedOut") === "1"} />);
  })
  .post("/sign-in", async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token : "";
    const next = safeNext(typeof form.next === "string" ? form.next : undefined);
    if (!token || !(await timingSafeEqualStrings(token, c.var.config.adminToken))) {
      log("warn", "console sign-in refused", { requestId: c.var.requestId });
      return c.html(<SignInForm next={next} failed={true} signedOut={false} />, 401);
    }
    const { cookieValue } = await issueOperatorCookie(c.var.config.adminToken);
    setCookie(c, OPERATOR_COOKIE, cookieValue, {
      prefix: "host",
      path: "/",
      secure: true,
      httpOnly: true,
      sameSite: "Strict",
      maxAge: OPERATOR_SIGN_IN_TTL_SECONDS,
    });
    return c.redirect(next, 303);
  });

/** Signs the operator out (it must be a signed-in, CSRF-checked request; see console/app.ts). */
export const signOutRouter = createConsoleRouter().post("/sign-out", async (c) => {
  await signOutOperator(c.var.operator, c.env.CACHE);
  deleteCookie(c, OPERATOR_COOKIE, { path: "/", secure: true, prefix: "host" });
  return c.redirect("/console/sign-in?signedOut=1", 303);
});
