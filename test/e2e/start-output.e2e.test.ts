import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { localSettings } from "../../scripts/dev-vars.ts";
import { generateSecrets } from "../../scripts/secrets.ts";
import { freePort, startDevServer } from "../../scripts/wrangler-dev.ts";

// What `npm start` shows of wrangler dev when its output goes to a file or a pipe: started the way
// scripts/dev.ts starts it (no --test-scheduled, lines through onLine), with no network needed.
// A second wrangler dev beside the suite's, with its own state; only its start-up output matters.

describe("wrangler dev's start-up output, as npm start prints it", () => {
  it("has no failed fetch of the Request.cf object, no stack trace and no ANSI escapes", async () => {
    const persistTo = mkdtempSync(join(tmpdir(), "acme-bridge-start-"));
    const lines: string[] = [];
    // vitest sets NODE_ENV=test, under which miniflare never fetches the cf object: npm start has none.
    const nodeEnv = process.env.NODE_ENV;
    delete process.env.NODE_ENV;
    try {
      const port = await freePort();
      const server = await startDevServer({
        port,
        persistTo,
        vars: { ...localSettings(port), ...(await generateSecrets()), LOG_FORMAT: "pretty" },
        onLine: (line) => lines.push(line),
      });
      await server.stop();
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
