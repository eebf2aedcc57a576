import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { oneWorkerDemo, seedDemo } from "../../scripts/demo-seed.ts";
import { localSettings } from "../../scripts/dev-vars.ts";
import { generateSecrets } from "../../scripts/secrets.ts";
import { applyLocalMigrations, freePort, startDevServer } from "../../scripts/wrangler-dev.ts";

// What `npm start` shows of wrangler dev when its output goes to a file or a pipe: started the way
// scripts/dev.ts starts it (no --test-scheduled, lines through onLine), with no network needed.
// A second wrangler dev beside the suite's, with its own state; only its start-up output matters.

describe("wrangler dev's start-up output, as npm start prints it", () => {
  it("has no failed fetch of the Request.cf object, no stack trace and no ANSI escapes; the demo's banner prints a connect link that works", async () => {
    const persistTo = mkdtempSync(join(tmpdir(), "acme-bridge-start-"));
    const lines: string[] = [];
    // vitest sets NODE_ENV=test, under which miniflare never fetches the cf object: npm start has none.
    const nodeEnv = process.env.NODE_ENV;
    delete process.env.NODE_ENV;
    try {
      applyLocalMigrations(persistTo);
      const port = await freePort();
      const vars = { ...localSettings(port), ...(await generateSecrets()), LOG_FORMAT: "pretty" };
      const server = await startDevServer({ port, persistTo, vars, onLine: (line) => lines.push(line) });
      let banner: string;
      let connectUrl: string;
      try {
        // The demo seed as npm start runs it; its banner ends with a connect link that works.
        const demo = await seedDemo(
          { ...oneWorkerDemo(server.url), statePath: join(persistTo, "demo.json") },
          vars,
        );
        banner = demo.banner;
        connectUrl = demo.connect.url;
        expect(connectUrl).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/connect/cst_`));
        const page = await fetch(connectUrl);
        expect(page.status).toBe(200);
        const html = await page.text();
        expect(html).toContain("Continue to Acme");
        expect(html).toContain(encodeURIComponent(`http://127.0.0.1:${port}/connect/callback`));
        // Acme knows the callback: its consent page for that link opens (200, not the 400 of an unregistered URI).
        const authorize = /id="continue" href="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, "&") ?? "";
        expect((await fetch(authorize)).status).toBe(200);
      } finally {
        await server.stop();
      }
      expect(banner).toContain(connectUrl);
      expect(banner).toMatch(/single use, expires in 30 minutes/);
      expect(banner).toContain("/api/v1/admin/connect-sessions");
      expect(banner).toMatch(/sign in at Acme as\n\s+demo-\S+@example\.com \/ \S+/);
      const output = lines.join("\n");
      expect(output).toContain("Ready on http://127.0.0.1:");
      // The scheduled-workers warning is one wrangler colours even under NO_COLOR: it is there, plain.
      expect(output).toContain("Scheduled Workers are not automatically triggered");
      expect(output).not.toContain("\x1b[");
      expect(output).not.toMatch(/ENOTFOUND|workers\.cloudflare\.com|Request\.cf/);
      expect(output).not.toMatch(/^\s+at \S/m);
    } finally {
      process.env.NODE_ENV = nodeEnv;
      rmSync(persistTo, { recursive: true, force: true });
    }
  });
});
