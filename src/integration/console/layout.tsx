import type { Child } from "hono/jsx";
import type { OperatorSignIn } from "./operator-cookie.ts";

/**
 * The console's sections, in navigation order. A section is one entry here and one router in
 * console/app.ts; per-connection views (change feed, webhooks) are tabs on the connection's page.
 */
const SECTIONS = [
  { href: "/console/connections", label: "Connections" },
  { href: "/console/dead-letters", label: "Dead letters" },
] as const;

/** The hidden field carrying the sign-in's CSRF token; every state-changing form includes it. */
export function CsrfField({ operator }: { operator: OperatorSignIn }) {
  return <input type="hidden" name="_csrf" value={operator.csrf} />;
}

/**
 * A form that is one button: it POSTs to `action` with the sign-in's CSRF token. `name` is the
 * accessible name when the visible label alone is ambiguous (a "Revoke" on every row).
 */
export function ActionButton(props: {
  operator: OperatorSignIn;
  action: string;
  label: string;
  name?: string;
  variant?: "secondary" | "danger";
}) {
  return (
    <form method="post" action={props.action} class="inline">
      <CsrfField operator={props.operator} />
      <button type="submit" class={props.variant} aria-label={props.name}>
        {props.label}
      </button>
    </form>
  );
}

/** The link to the next page of a list, when there is one. */
export function NextPageLink(props: { href: string | null; label: string }) {
  return props.href ? (
    <p>
      <a href={props.href}>{props.label}</a>
    </p>
  ) : null;
}

/** A message above the page content: `status` is polite (done), `alert` interrupts (failed). */
export interface Notice {
  kind: "status" | "alert";
  text: string;
}

/** Every console page: header with navigation and sign-out, one <h1>, an optional notice, the content. */
export function Page(props: {
  title: string;
  /** Null on the sign-in page: no navigation, no sign-out. */
  operator: OperatorSignIn | null;
  /** The current path, to mark the section the page belongs to. */
  path?: string;
  notice?: Notice | undefined;
  /** Extra stylesheets and scripts (this origin's) the page needs. */
  head?: Child;
  children: Child;
}) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        {/* No inline styles or eval from htmx, so the strict Content-Security-Policy holds. */}
        <meta
          name="htmx-config"
          content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}'
        />
        <title>{`${props.title} · acme-bridge console`}</title>
        <link rel="stylesheet" href="/assets/console.css" />
        <script src="/assets/vendor/htmx.min.js" defer></script>
        {props.head}
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="site">
          <a class="brand" href="/console">
            acme-bridge console
          </a>
          {props.operator ? (
            <nav aria-label="Console">
              <ul>
                {SECTIONS.map((s) => (
                  <li>
                    <a href={s.href} aria-current={props.path?.startsWith(s.href) ? "page" : undefined}>
                      {s.label}
                    </a>
                  </li>
                ))}
                <li>
                  <a href="/docs">API docs</a>
                </li>
              </ul>
              <ActionButton
                operator={props.operator}
                action="/console/sign-out"
                label="Sign out"
                variant="secondary"
              />
            </nav>
          ) : null}
        </header>
        <main id="main">
          <h1>{props.title}</h1>
          {props.notice ? (
            <p class={`notice ${props.notice.kind}`} role={props.notice.kind}>
              {props.notice.text}
            </p>
          ) : null}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** A table that scrolls sideways on narrow screens instead of squeezing its columns. */
export function ScrollTable(props: { label: string; children: Child }) {
  return (
    // A labelled section (a region landmark) that keyboard users can focus to scroll.
    <section class="table-scroll" aria-label={props.label} tabindex={0}>
      <table>{props.children}</table>
    </section>
  );
}

/** An instant as UTC text in a <time> element (machine-readable too). */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span class="muted">never</span>;
  return <time datetime={iso}>{iso.replace("T", " ").replace(/\.\d+Z$/, "Z")}</time>;
}
