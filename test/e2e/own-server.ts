import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { localSettings } from "../../scripts/dev-vars.ts";
import { generateSecrets } from "../../scripts/secrets.ts";
import {
  applyLocalMigrations,
  type DevServer,
  freePort,
  startDevServer,
} from "../../scripts/wrangler-dev.ts";
import { checkingFetch, isDocumentedSurface } from "../contract/check-responses.ts";

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** A test file's own `wrangler dev`, beside the suite's shared one (global-setup.ts). */
export interface OwnServer {
  /** `http://127.0.0.1:<port>`: the same after a restart. */
  readonly url: string;
  /** Its fresh secrets (scripts/secrets.ts). */
  readonly secrets: Record<string, string>;
  /** Acme's admin token (ACME_ADMIN_TOKEN). */
  readonly acmeAdmin: string;
  /** The integration's admin token (ADMIN_TOKEN). */
  readonly admin: string;
  /**
   * fetch that checks every response of this server against the OpenAPI documents it serves (the
   * suite's setup file checks only the shared server's); /__scheduled and the console pass unchecked.
   */
  readonly fetch: Fetch;
  /** Starts it again on the same state directory, port and vars (stopping it first if it still runs). */
  restart(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Stops it and removes its state directory; for afterAll, and safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a `wrangler dev` of its own: fresh state (migrated) in a temporary directory named after
 * `name`, a free port, fresh secrets, /__scheduled exposed, and `vars` over the local settings.
 * If it does not start, its state directory is removed before the error is thrown.
 */
export async function ownServer(name: string, vars: Record<string, string> = {}): Promise<OwnServer> {
  const persistTo = mkdtempSync(join(tmpdir(), `acme-bridge-${name}-`));
  const remove = () => rmSync(persistTo, { recursive: true, force: true });
  let server: DevServer;
  let start: () => Promise<DevServer>;
  let secrets: Record<string, string>;
  try {
    applyLocalMigrations(persistTo);
    const port = await freePort();
    secrets = await generateSecrets();
    const all = { ...localSettings(port), ...secrets, ...vars };
    start = () => startDevServer({ port, persistTo, testScheduled: true, vars: all });
    server = await start();
  } catch (error) {
    remove();
    throw error;
  }
  const { origin } = new URL(server.url);
  let stopped: Promise<void> | undefined;
  return {
    url: server.url,
    secrets,
    acmeAdmin: secrets.ACME_ADMIN_TOKEN ?? "",
    admin: secrets.ADMIN_TOKEN ?? "",
    fetch: checkingFetch(
      globalThis.fetch,
      (url) => url.origin === origin && url.pathname !== "/__scheduled" && isDocumentedSurface(url.pathname),
    ),
    async restart() {
      await server.stop();
      server = await start();
    },
    kill: () => server.kill(),
    stop() {
      stopped ??= server.stop().finally(remove);
      return stopped;
    },
  };
}

/**
 * ownServer for the tests of a file or describe block: started in beforeAll, stopped (its state
 * directory removed) in afterAll. Returns a getter for it, which throws if it did not start.
 */
export function useOwnServer(name: string, vars: Record<string, string> = {}): () => OwnServer {
  let server: OwnServer | undefined;
  beforeAll(async () => {
    server = await ownServer(name, vars);
  });
  afterAll(() => server?.stop());
  return () => {
    if (!server) throw new Error(`${name}: its server did not start`);
    return server;
  };
}
