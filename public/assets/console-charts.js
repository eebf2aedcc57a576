// Draws the connection's per-minute charts with uPlot (served from this origin) from the figures
// the page carries in #minute-figures[data-points]; redraws when htmx swaps in fresh figures.
(() => {
  const LABELS = {
    requests: "Requests",
    acmeCalls: "Calls to Acme",
    acme429s: "429s",
    acmeFailures: "Failures",
    cacheHitRatio: "Cache hit ratio",
    p50Ms: "p50 ms",
    p95Ms: "p95 ms",
  };
  const COLOURS = ["#2563eb", "#d97706"];
  let plots = [];

  // A minute (Unix seconds) as 24-hour UTC time, "HH:MM": the page's minutes are UTC, whatever the
  // browser's zone, and uPlot's own labels would be 12-hour ("2:30pm").
  function utcMinute(seconds) {
    return new Date(seconds * 1000).toISOString().slice(11, 16);
  }

  function draw() {
    for (const plot of plots) plot.destroy();
    plots = [];
    const section = document.getElementById("minute-figures");
    if (!section || typeof uPlot === "undefined") return;
    const points = JSON.parse(section.dataset.points || "[]");
    const times = points.map((p) => p.time);
    for (const target of section.querySelectorAll(".chart[data-series]")) {
      const keys = target.dataset.series.split(",");
      const ratio = keys[0] === "cacheHitRatio";
      const series = keys.map((key) =>
        points.map((p) => (p[key] === null ? null : ratio ? p[key] * 100 : p[key])),
      );
      const width = Math.max(260, target.clientWidth);
      const options = {
        // The page's minutes are UTC; so is the time axis.
        tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
        width,
        height: 200,
        series: [
          // The legend's time too.
          {
            label: "Time (UTC)",
            value: (_u, seconds) => (seconds == null ? "–" : `${utcMinute(seconds)} UTC`),
          },
          // Points too: a minute between two empty ones (no latency, no ratio) has no line to draw.
          ...keys.map((key, i) => ({
            label: LABELS[key],
            stroke: COLOURS[i],
            width: 2,
            spanGaps: false,
            points: { show: true, size: 4 },
          })),
        ],
        scales: {
          x: { time: true },
          y: ratio ? { range: [0, 100] } : { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
        axes: [
          {
            label: "Time (UTC)",
            labelSize: 20,
            // The drawn tick labels are kept on the chart (data-x-ticks) for reading without the canvas.
            values: (_u, ticks) => {
              const labels = ticks.map(utcMinute);
              target.dataset.xTicks = labels.join(" ");
              return labels;
            },
          },
          { values: (_u, ticks) => ticks.map((t) => (ratio ? `${t}%` : String(t))) },
        ],
      };
      const plot = new uPlot(options, [times, ...series], target);
      target.dataset.drawn = String(points.length);
      plots.push(plot);
    }
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target && event.target.id === "minute-figures") draw();
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(draw, 200);
  });
})();
