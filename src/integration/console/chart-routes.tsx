import type { MinutePoint } from "../session/minute-counters.ts";
import { acmeSessionStub } from "../session/session-stub.ts";
import { connectionHealth } from "./connection-health.ts";
import { ConnectionTabs } from "./connection-views.tsx";
import { createConsoleRouter } from "./context.ts";
import { ConsoleError } from "./errors.tsx";
import { Page, ScrollTable } from "./layout.tsx";

/** How often an open charts page fetches the figures again (a point is a minute). */
const REFRESH_EVERY = "30s";

/** The charts the page draws (public/assets/console-charts.js reads `data-series` and `data-points`). */
const CHARTS = [
  { id: "traffic", title: "Requests and calls to Acme", series: "requests,acmeCalls", unit: "per minute" },
  {
    id: "setbacks",
    title: "Acme's 429s and failures (5xx, timeouts)",
    series: "acme429s,acmeFailures",
    unit: "per minute",
  },
  { id: "cache", title: "Cache hit ratio", series: "cacheHitRatio", unit: "share of cached reads" },
  { id: "latency", title: "Latency, p50 and p95", series: "p50Ms,p95Ms", unit: "ms" },
] as const;

function ms(value: number | null): string {
  return value === null ? "–" : String(Math.round(value));
}

function ratio(value: number | null): string {
  return value === null ? "–" : `${Math.round(value * 100)}%`;
}

function minuteText(time: number): string {
  return new Date(time * 1000).toISOString().slice(11, 16);
}

/**
 * The charts and, for screen readers and without script, the same figures as a table. The whole
 * section refreshes itself (htmx); the charts script redraws after each swap.
 */
function MinuteFigures(props: { connectionId: string; points: MinutePoint[] }) {
  const totals = props.points.reduce(
    (sum, p) => ({
      requests: sum.requests + p.requests,
      acmeCalls: sum.acmeCalls + p.acmeCalls,
      acme429s: sum.acme429s + p.acme429s,
      acmeFailures: sum.acmeFailures + p.acmeFailures,
    }),
    { requests: 0, acmeCalls: 0, acme429s: 0, acmeFailures: 0 },
  );
  return (
    <section
      id="minute-figures"
      aria-label="The last hour, a point a minute"
      data-points={JSON.stringify(props.points)}
      hx-get={`/console/connections/${props.connectionId}/charts/figures`}
      hx-trigger={`every ${REFRESH_EVERY}`}
      hx-swap="outerHTML"
    >
      <p id="minute-totals">
        In the last hour: <strong data-total="requests">{totals.requests}</strong> requests,{" "}
        <strong data-total="acmeCalls">{totals.acmeCalls}</strong> calls to Acme,{" "}
        <strong data-total="acme429s">{totals.acme429s}</strong> answered 429,{" "}
        <strong data-total="acmeFailures">{totals.acmeFailures}</strong> failed.
      </p>
      <div class="charts">
        {CHARTS.map((chart) => (
          <figure class="chart-figure">
            <figcaption>
              {chart.title} <span class="muted">({chart.unit}; time in UTC, 24-hour)</span>
            </figcaption>
            <div
              class="chart"
              id={`chart-${chart.id}`}
              data-series={chart.series}
              role="img"
              aria-label={`${chart.title}, ${chart.unit}, by minute (UTC)`}
            ></div>
          </figure>
        ))}
      </div>
      <details>
        <summary>The figures as a table</summary>
        <ScrollTable label="Figures per minute">
          <thead>
            <tr>
              <th scope="col">Minute (UTC)</th>
              <th scope="col">Requests</th>
              <th scope="col">Calls to Acme</th>
              <th scope="col">429s</th>
              <th scope="col">Failures</th>
              <th scope="col">Cache hits</th>
              <th scope="col">p50 ms</th>
              <th scope="col">p95 ms</th>
            </tr>
          </thead>
          <tbody>
            {props.points.map((p) => (
              <tr data-minute={String(p.time)}>
                <th scope="row">{minuteText(p.time)}</th>
                <td>{p.requests}</td>
                <td>{p.acmeCalls}</td>
                <td>{p.acme429s}</td>
                <td>{p.acmeFailures}</td>
                <td>{ratio(p.cacheHitRatio)}</td>
                <td>{ms(p.p50Ms)}</td>
                <td>{ms(p.p95Ms)}</td>
              </tr>
            ))}
          </tbody>
        </ScrollTable>
      </details>
    </section>
  );
}

/** A connection's last hour as charts, one point a minute, from its AcmeSession's per-minute counters. */
export const chartRouter = createConsoleRouter()
  .get("/:id/charts", async (c) => {
    const found = await connectionHealth(c.env, c.req.param("id"));
    if (!found) throw new ConsoleError(404, "There is no such connection.");
    const points = await acmeSessionStub(c.env, found.row.id).minuteSeries(60);
    return c.html(
      <Page
        title={`${found.row.name}: the last hour`}
        operator={c.var.operator}
        path="/console/connections"
        head={
          <>
            <link rel="stylesheet" href="/assets/vendor/uplot.min.css" />
            <script src="/assets/vendor/uplot.min.js" defer></script>
            <script src="/assets/console-charts.js" defer></script>
          </>
        }
      >
        <ConnectionTabs id={found.row.id} current="charts" />
        <p class="muted">
          Requests made with this connection's API keys, its calls to Acme and how they went, a point a minute
          (UTC). Kept for 24 hours; refreshed every 30 s.
        </p>
        <MinuteFigures connectionId={found.row.id} points={points} />
      </Page>,
    );
  })
  .get("/:id/charts/figures", async (c) => {
    const found = await connectionHealth(c.env, c.req.param("id"));
    if (!found) throw new ConsoleError(404, "There is no such connection.");
    const points = await acmeSessionStub(c.env, found.row.id).minuteSeries(60);
    return c.html(<MinuteFigures connectionId={found.row.id} points={points} />);
  });
