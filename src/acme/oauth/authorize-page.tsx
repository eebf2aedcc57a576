import type { Child } from "hono/jsx";
import type { AuthorizationRequest } from "./authorize-request.ts";

/** What each scope lets an app do, as the consent page says it. */
const SCOPE_DESCRIPTIONS: Record<string, string> = {
  "contacts.read": "Read your contacts and contact properties",
  "contacts.write": "Create, change and delete your contacts and contact properties",
  "webhooks.manage": "Manage webhook subscriptions that send your contact changes elsewhere",
};

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:26rem;margin:3rem auto;background:#fff;border-radius:.5rem;padding:2rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem;margin:0 0 1rem}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #aab;border-radius:.3rem;font:inherit}
ul{padding-left:1.2rem}
.error{background:#fdecea;color:#8a1c12;padding:.6rem .8rem;border-radius:.3rem}
.actions{display:flex;gap:.8rem;margin-top:1.4rem}
button{flex:1;padding:.6rem;border-radius:.3rem;border:1px solid #446;font:inherit;cursor:pointer}
button[value=approve]{background:#2446a8;color:#fff;border-color:#2446a8}
button[value=deny]{background:#fff}
small{color:#556}
`;

function Document(props: { nonce: string; title: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{props.title}</title>
        <style nonce={props.nonce}>{STYLE}</style>
      </head>
      <body>
        <main>{props.children}</main>
      </body>
    </html>
  );
}

/**
 * The sign-in and consent page: the app's name, the scopes it asks for, email and password, and
 * Approve / Deny. Every request parameter travels on as a hidden field (JSX escapes them all).
 */
export function AuthorizePage(props: {
  nonce: string;
  action: string;
  request: AuthorizationRequest;
  csrf: string;
  email?: string;
  error?: string;
}) {
  const { request } = props;
  return (
    <Document nonce={props.nonce} title="Sign in to Acme">
      <h1>Sign in to Acme to connect {request.app.name}</h1>
      <p>
        <strong>{request.app.name}</strong> asks to act for your Acme account:
      </p>
      <ul>
        {request.scope.split(" ").map((scope) => (
          <li>
            {SCOPE_DESCRIPTIONS[scope] ?? scope} <small>({scope})</small>
          </li>
        ))}
      </ul>
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      <form method="post" action={props.action}>
        <input type="hidden" name="csrf" value={props.csrf} />
        <input type="hidden" name="response_type" value="code" />
        <input type="hidden" name="client_id" value={request.clientId} />
        <input type="hidden" name="redirect_uri" value={request.redirectUri} />
        <input type="hidden" name="scope" value={request.scope} />
        {request.state !== undefined ? <input type="hidden" name="state" value={request.state} /> : null}
        <input type="hidden" name="code_challenge" value={request.codeChallenge} />
        <input type="hidden" name="code_challenge_method" value="S256" />
        <label for="email">Email</label>
        <input
          id="email"
          type="email"
          name="email"
          autocomplete="username"
          value={props.email ?? ""}
          required
        />
        <label for="password">Password</label>
        <input id="password" type="password" name="password" autocomplete="current-password" required />
        <div class="actions">
          <button type="submit" name="decision" value="approve">
            Approve
          </button>
          <button type="submit" name="decision" value="deny" formnovalidate>
            Deny
          </button>
        </div>
      </form>
      <p>
        <small>You will be sent back to {new URL(request.redirectUri).origin}.</small>
      </p>
    </Document>
  );
}

/** A page for an error only the user sees (no redirect: the client or redirect URI is not trusted). */
export function AuthorizeErrorPage(props: { nonce: string; title: string; message: string }) {
  return (
    <Document nonce={props.nonce} title={props.title}>
      <h1>{props.title}</h1>
      <p class="error" role="alert">
        {props.message}
      </p>
      <p>Return to the application and start again.</p>
    </Document>
  );
}
