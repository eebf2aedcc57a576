// A real headless Chromium for the browser tests: Debian's `chromium` package driven by
// playwright-core (no browser download). .ci/run installs the package when it is missing.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { ROOT } from "../../scripts/wrangler-dev.ts";

/** Where the tests write a screenshot of each page (gitignored). */
export const SCREENSHOTS = join(ROOT, "test", "e2e", "screenshots");

/** Chromium's path: CHROMIUM_PATH, else Debian's. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Launches Chromium with a fresh profile (playwright makes a new user-data-dir per launch) and
 * without any of the background traffic a browser makes on its own.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A browser context in which every request is checked: one to the local origin goes through,
 * any other is aborted and recorded in `offOrigin`, so a test can assert none left the machine.
 */
export async function localOnlyContext(
  browser: Browser,
  base: string,
  options: { viewport?: { width: number; height: number } } = {},
): Promise<{ context: BrowserContext; offOrigin: string[] }> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } });
  const origin = new URL(base).origin;
  const offOrigin: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    if (new URL(url).origin === origin) return route.continue();
    offOrigin.push(url);
    return route.abort("blockedbyclient");
  });
  return { context, offOrigin };
}

/** Saves a screenshot as test/e2e/screenshots/<name>.png: the whole page unless `fullPage` is false. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}
