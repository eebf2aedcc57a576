import type { ConnectionHealth, HealthLevel } from "./connection-health.ts";
import { withQuery } from "./filters.ts";
import { NextPageLink, ScrollTable, Time } from "./layout.tsx";

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

const LEVEL_WORDS: Record<HealthLevel, string> = {
  healthy: "healthy",
  degraded: "degraded",
  failing: "failing",
  unknown: "not verified",
};

/** The health word as a badge (its reason in the title); the word itself carries it, not the colour. */
export function Verdict({ health }: { health: ConnectionHealth }) {
  return (
    <span
      class={`badge ${health.verdict.level}`}
      title={health.verdict.reason}
      data-health={health.verdict.level}
    >
      {LEVEL_WORDS[health.verdict.level]}
    </span>
  );
}

/** How the connection's token exchanges went: when one last succeeded, and the latest failure if any. */
/** When the held access token expires; without one, why there is none (not "never": it does expire). */
function TokenExpiry({ health }: { health: ConnectionHealth }) {
  if (health.status.token) return <Time iso={health.status.token.expiresAt} />;
  return <span class="muted">{health.needsReauth ? "none: needs reauthorization" : "no token held"}</span>;
}

function TokenHistory({ health }: { health: ConnectionHealth }) {
  const { tokenObtainedAt, tokenFailure } = health.status;
  return (
    <span>
      {tokenObtainedAt ? (
        <>
          last obtained <Time iso={tokenObtainedAt} />
        </>
      ) : (
        "never obtained"
      )}
      {tokenFailure ? (
        <>
          ; the latest request failed <Time iso={tokenFailure.at} />: {tokenFailure.detail} (
          <code>{tokenFailure.code}</code>)
        </>
      ) : null}
    </span>
  );
}

/** The last finished backfill or reconciliation, and how it ended. */
function LastSyncFact({ health }: { health: ConnectionHealth }) {
  const sync = health.lastSync;
  if (!sync) return <span class="muted">none finished yet</span>;
  const name = sync.kind === "reconcile" ? "reconciliation" : "backfill";
  return (
    <span>
      {name} {sync.status} <Time iso={sync.finishedAt} />
      {sync.failure ? `: ${sync.failure}` : ""}
    </span>
  );
}

/** The share of Acme's quota used in the current window, as a meter and per rate class. */
export function Quota({ health }: { health: ConnectionHealth }) {
  if (health.quotaUsed === null) return <span class="muted">not learned yet</span>;
  const detail = Object.entries(health.status.budgets)
    .filter(([, b]) => b.limit !== null)
    .map(([name, b]) => `${name} ${(b.limit ?? 0) - (b.remaining ?? 0)}/${b.limit}`)
    .join(", ");
  return (
    <span>
      <meter min={0} max={1} value={health.quotaUsed} aria-label="Share of Acme's quota used">
        {percent(health.quotaUsed)}
      </meter>{" "}
      {percent(health.quotaUsed)} <span class="muted">({detail})</span>
    </span>
  );
}

/**
 * The connections table. It refreshes itself every 10 s (htmx) so health stays current while
 * the page is open; `after` is the page cursor, `search` the name or id filter in force.
 */
export function ConnectionsTable(props: {
  data: ConnectionHealth[];
  after: string | undefined;
  nextAfter: string | null;
  search?: string | undefined;
}) {
  const self = withQuery("/console/connections/table", { q: props.search, after: props.after });
  return (
    <div id="connections" hx-get={self} hx-trigger="every 10s" hx-swap="outerHTML">
      {props.data.length === 0 ? (
        <p>{props.search ? "No connection matches the filter." : "No connections yet. Create one below."}</p>
      ) : (
        <ScrollTable label="Connections and their health">
          <thead>
            <tr>
              <th scope="col">Connection</th>
              <th scope="col">Health</th>
              <th scope="col">Circuit</th>
              <th scope="col">Acme quota used (this window)</th>
              <th scope="col">Token expires</th>
              <th scope="col">Webhooks</th>
              <th scope="col">Last reconciliation</th>
              <th scope="col">Mirror size</th>
            </tr>
          </thead>
          <tbody>
            {props.data.map((h) => (
              <tr data-connection-id={h.id}>
                <th scope="row">
                  <a href={`/console/connections/${h.id}`}>{h.name}</a>
                  <br />
                  <code class="muted">{h.id}</code>
                  <ConnectionKind health={h} />
                </th>
                <td>
                  <Verdict health={h} />
                  {h.verdict.level === "healthy" ? null : <p class="muted reason">{h.verdict.reason}</p>}
                </td>
                <td>{h.status.circuit.state.replace("_", "-")}</td>
                <td>
                  <Quota health={h} />
                </td>
                <td>
                  <TokenExpiry health={h} />
                </td>
                <td>{h.webhooksConfigured ? "configured" : "not configured"}</td>
                <td>
                  <Time iso={h.reconciledThrough} />
                </td>
                <td>{h.mirrorSize}</td>
              </tr>
            ))}
          </tbody>
        </ScrollTable>
      )}
      <NextPageLink
        href={
          props.nextAfter && withQuery("/console/connections", { q: props.search, after: props.nextAfter })
        }
        label="Next connections"
      />
    </div>
  );
}

/** How a connection reaches Acme, for whom, and a `needs_reauth` badge when Acme refused its grant. */
export function ConnectionKind({ health }: { health: ConnectionHealth }) {
  return (
    <span class="connection-kind" data-method={health.method}>
      <br />
      <span class="muted">{health.method === "oauth" ? "OAuth" : "client credentials"}</span>
      {health.endUserId ? (
        <>
          {" · end user "}
          <code data-end-user>{health.endUserId}</code>
        </>
      ) : null}
      {health.needsReauth ? (
        <>
          {" "}
          <span class="badge failing" data-status="needs_reauth">
            needs_reauth
          </span>
        </>
      ) : null}
    </span>
  );
}

/** The tabs of one connection's pages. */
export function ConnectionTabs(props: {
  id: string;
  current: "overview" | "charts" | "jobs" | "feed" | "destinations" | "custom-fields" | "webhooks";
}) {
  const tabs = [
    { key: "overview", href: `/console/connections/${props.id}`, label: "Overview and API keys" },
    { key: "charts", href: `/console/connections/${props.id}/charts`, label: "Last hour" },
    { key: "jobs", href: `/console/connections/${props.id}/jobs`, label: "Jobs" },
    { key: "feed", href: `/console/connections/${props.id}/feed`, label: "Change feed" },
    { key: "destinations", href: `/console/connections/${props.id}/destinations`, label: "Destinations" },
    { key: "custom-fields", href: `/console/connections/${props.id}/custom-fields`, label: "Custom fields" },
    { key: "webhooks", href: `/console/connections/${props.id}/webhooks`, label: "Acme webhook deliveries" },
  ] as const;
  return (
    <nav aria-label="Connection" class="tabs">
      <ul>
        {tabs.map((t) => (
          <li>
            <a href={t.href} aria-current={t.key === props.current ? "page" : undefined}>
              {t.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** Health facts as a description list (the overview page). */
export function HealthFacts({ health }: { health: ConnectionHealth }) {
  const c = health.status.counters;
  return (
    <dl class="facts">
      <dt>Health</dt>
      <dd>
        <Verdict health={health} /> {health.verdict.reason}
      </dd>
      <dt>Circuit</dt>
      <dd>
        {health.status.circuit.state.replace("_", "-")} ({health.status.circuit.recentFailures} recent
        failures)
      </dd>
      <dt>Acme quota used</dt>
      <dd>
        <Quota health={health} />
      </dd>
      <dt>Token expires</dt>
      <dd>
        <TokenExpiry health={health} />
      </dd>
      <dt>Acme token</dt>
      <dd>
        <TokenHistory health={health} />
      </dd>
      <dt>Last sync</dt>
      <dd>
        <LastSyncFact health={health} />
      </dd>
      <dt>Webhooks</dt>
      <dd>{health.webhooksConfigured ? "configured" : "not configured"}</dd>
      <dt>Last reconciliation</dt>
      <dd>
        <Time iso={health.reconciledThrough} />
      </dd>
      <dt>Mirror size</dt>
      <dd>{health.mirrorSize} contacts</dd>
      <dt>Calls to Acme</dt>
      <dd>
        {c.calls} calls, {c.retries} retries, {c.acme429s} answered 429, {c.throttledWaits} waited for a slot,{" "}
        {c.throttledRefusals} refused by the throttle, {c.circuitRefusals} refused by the circuit,{" "}
        {c.staleFallbacks} stale reads, {c.cacheWriteFailures} failed cache writes (since{" "}
        <Time iso={health.status.since} />)
      </dd>
      <dt>Method</dt>
      <dd>
        {health.method === "oauth" ? "OAuth (a grant approved through a connect link)" : "client credentials"}
      </dd>
      <dt>End user</dt>
      <dd>
        {health.endUserId ? <code data-end-user>{health.endUserId}</code> : <span class="muted">none</span>}
      </dd>
      <dt>Status</dt>
      <dd>
        {health.needsReauth ? (
          <span class="badge failing" data-status="needs_reauth">
            needs_reauth
          </span>
        ) : (
          "active"
        )}
      </dd>
      <dt>Acme</dt>
      <dd>
        {health.acmeBaseUrl ?? "the deployment's default (ACME_BASE_URL, or the mock in this Worker)"}, client{" "}
        <code>{health.acmeClientId}</code>
      </dd>
    </dl>
  );
}
