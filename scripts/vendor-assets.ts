// Copies the browser files the Worker serves as static assets out of node_modules, so their
// versions are the ones package-lock.json pins and nothing is fetched from a CDN at run time.
// Runs after every `npm install` / `npm ci` (the `postinstall` script); the copies are gitignored.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT } from "./wrangler-dev.ts";

/** Source in node_modules → path under public/ (served at the same path from the site root). */
export const VENDORED_ASSETS: Record<string, string> = {
  "htmx.org/dist/htmx.min.js": "assets/vendor/htmx.min.js",
  "@scalar/api-reference/dist/browser/standalone.js": "assets/vendor/scalar-api-reference.js",
  "uplot/dist/uPlot.iife.min.js": "assets/vendor/uplot.min.js",
  "uplot/dist/uPlot.min.css": "assets/vendor/uplot.min.css",
};

for (const [source, target] of Object.entries(VENDORED_ASSETS)) {
  const to = join(ROOT, "public", target);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(join(ROOT, "node_modules", source), to);
}
