import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { localSettings } from "../../scripts/dev-vars.ts";
import { generateSecrets } from "../../scripts/secrets.ts";
import { applyLocalMigrations, freePort, startDevServer } from "../../scripts/wrangler-dev.ts";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    adminToken: string;
    integrationAdminToken: string;
  }
}

export default async function setup(project: TestProject) {
  const persistTo = mkdtempSync(join(tmpdir(), "acme-bridge-e2e-"));
  const cleanup = () => rmSync(persistTo, { recursive: true, force: true });
  try {
    applyLocalMigrations(persistTo);
    const port = await freePort();
    const secrets = await generateSecrets();
    const server = await startDevServer({
      port,
      persistTo,
      testScheduled: true,
      vars: { ...localSettings(port), ...secrets, CACHE_TTL_SECONDS: "1", BREAKER_OPEN_MS: "500" },
    });
    project.provide("baseUrl", server.url);
    project.provide("adminToken", secrets.ACME_ADMIN_TOKEN ?? "");
    project.provide("integrationAdminToken", secrets.ADMIN_TOKEN ?? "");
    return async () => {
      await server.stop();
      cleanup();
    };
  } catch (error) {
    cleanup();
    throw error;
  }
}
