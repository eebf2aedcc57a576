import type { Child } from "hono/jsx";

/** Every connect page: this origin's stylesheet only, one <h1>, an optional notice, the content. */
export function ConnectPage(props: {
  title: string;
  alert?: string | undefined;
  /** Where the browser goes on at once (a meta refresh), if anywhere. */
  refreshTo?: string | undefined;
  children?: Child;
}) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {/* The link's token is in this page's URL: never sent on as a Referer. */}
        <meta name="referrer" content="no-referrer" />
        <meta name="robots" content="noindex" />
        {props.refreshTo ? <meta http-equiv="refresh" content={`0; url=${props.refreshTo}`} /> : null}
        <title>{`${props.title} · Connect Acme`}</title>
        <link rel="stylesheet" href="/assets/console.css" />
      </head>
      <body>
        <main id="main">
          <h1>{props.title}</h1>
          {props.alert ? (
            <p class="notice alert" role="alert">
              {props.alert}
            </p>
          ) : null}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** Until when the link works (the end user id is the product's own, not shown to its customer). */
function SessionFacts(props: { expiresAt: string }) {
  return (
    <p>
      Connect your Acme account. This link works once, until{" "}
      <time datetime={props.expiresAt}>{props.expiresAt.replace("T", " ").replace(/\.\d+Z$/, "Z")}</time>.
    </p>
  );
}

/** The OAuth start page: one link to Acme's sign-in and consent page. */
export function OAuthStartPage(props: { endUserId: string; expiresAt: string; authorizeUrl: string }) {
  return (
    <ConnectPage title="Connect your Acme account">
      <SessionFacts expiresAt={props.expiresAt} />
      <p>You will sign in at Acme and approve access to your contacts; you then come back here.</p>
      <p>
        <a id="continue" href={props.authorizeUrl} rel="noreferrer">
          Continue to Acme
        </a>
      </p>
    </ConnectPage>
  );
}

/** The client-credentials form: the account's client id and secret, checked at Acme before anything is kept. */
export function CredentialsPage(props: {
  endUserId: string;
  expiresAt: string;
  action: string;
  csrf: string;
  clientId?: string | undefined;
  alert?: string | undefined;
}) {
  return (
    <ConnectPage title="Connect your Acme account" alert={props.alert}>
      <SessionFacts expiresAt={props.expiresAt} />
      <form method="post" action={props.action} class="stack">
        <input type="hidden" name="_csrf" value={props.csrf} />
        <label for="clientId">Acme client id</label>
        <input
          id="clientId"
          name="clientId"
          required
          maxlength={200}
          autocomplete="off"
          value={props.clientId ?? ""}
        />
        <label for="clientSecret">Acme client secret</label>
        <input
          id="clientSecret"
          name="clientSecret"
          type="password"
          required
          maxlength={500}
          autocomplete="off"
        />
        <button type="submit">Connect</button>
      </form>
    </ConnectPage>
  );
}

/** A page that only says something: the end of the flow, or why it cannot go on. */
export function MessagePage(props: { title: string; message: string; alert?: boolean }) {
  return (
    <ConnectPage title={props.title}>
      <p class={props.alert ? "notice alert" : "notice status"} role={props.alert ? "alert" : "status"}>
        {props.message}
      </p>
    </ConnectPage>
  );
}

/**
 * The end of the OAuth flow when the product gave a redirectUrl: a page that sends the browser on
 * to `target` at once (meta refresh, and a link). Not an HTTP redirect: the browser came here
 * through Acme's consent form, and a form's redirect chain may only reach the origins that
 * page's form-action allows (Acme's own and the callback's), never the product's.
 */
export function ContinuePage(props: { title: string; message: string; target: string }) {
  return (
    <ConnectPage title={props.title} refreshTo={props.target}>
      <p class="notice status" role="status">
        {props.message}
      </p>
      <p>
        <a id="continue-to-app" href={props.target}>
          Continue
        </a>
      </p>
    </ConnectPage>
  );
}
