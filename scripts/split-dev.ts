// The two deployments side by side, locally (`npm run start:split`, test/e2e/split.e2e.test.ts):
// env.acme (the mock Acme alone) and env.production (the integration alone) as two `wrangler dev`
// processes with their own state, the product reaching the mock over HTTP and Acme's webhooks
// reaching the product over HTTP (loopback URLs allowed at the mock).
import { createServer } from "node:net";
import { join } from "node:path";
import {
  applyLocalMigrations,
  type DevServer,
  type DevServerOptions,
  freePort,
  startDevServer,
} from "./wrangler-dev.ts";

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A free port whose next one is free too (the product's and the mock's); throws after 20 tries. */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    if (port < 65_535 && (await isFree(port + 1))) return port;
  }
  throw new Error("no two consecutive free ports found");
}

export interface SplitOptions {
  /** The product's port; the mock Acme listens on the next one. */
  port: number;
  /** Directory under which each Worker keeps its state (`acme/` and `production/`). */
  persistTo: string;
  /** Vars and secrets for both (the local settings and secrets, as .dev.vars holds them). */
  vars: Record<string, string>;
  /** Receives each line of each process's output, with the Worker it came from. */
  onLine?: (worker: "acme" | "production", line: string, stream: "stdout" | "stderr") => void;
  /** Expose /__scheduled on both (tests). */
  testScheduled?: boolean;
}

export interface SplitServers {
  /** The integration alone (env.production): /api, /console, /docs. */
  product: DevServer;
  /** The mock Acme alone (env.acme): /acme. */
  acme: DevServer;
  /** Stops both, whatever state they are in. */
  stop: () => Promise<void>;
}

/**
 * Applies each Worker's migrations to its own state and starts the mock Acme on `port + 1` and the
 * product on `port` (ACME_BASE_URL pointing at the mock) side by side. Resolves once both answer;
 * if either fails to start, whatever started is stopped and the error (with wrangler's output) thrown.
 */
export async function startSplit(options: SplitOptions): Promise<SplitServers> {
  const acmePort = options.port + 1;
  const acmeState = join(options.persistTo, "acme");
  const productState = join(options.persistTo, "production");
  applyLocalMigrations(acmeState, "acme");
  applyLocalMigrations(productState, "production");
  const common: Partial<DevServerOptions> = { testScheduled: options.testScheduled };
  const acmeUrl = `http://127.0.0.1:${acmePort}`;
  // Side by side: neither needs the other to start (the product calls the mock only when asked).
  const started = await Promise.allSettled([
    startDevServer({
      ...common,
      port: acmePort,
      env: "acme",
      persistTo: acmeState,
      healthPath: "/acme/.well-known/jwks.json",
      onLine: options.onLine && ((line, stream) => options.onLine?.("acme", line, stream)),
      vars: {
        ...options.vars,
        ACME_ISSUER: `http://localhost:${acmePort}/acme`,
        // The product's webhook receiver is on this machine.
        ACME_WEBHOOK_ALLOW_LOOPBACK: "true",
      },
    }),
    startDevServer({
      ...common,
      port: options.port,
      env: "production",
      persistTo: productState,
      onLine: options.onLine && ((line, stream) => options.onLine?.("production", line, stream)),
      vars: {
        ...options.vars,
        ACME_BASE_URL: `${acmeUrl}/acme`,
        PUBLIC_BASE_URL: `http://127.0.0.1:${options.port}`,
      },
    }),
  ]);
  const [acme, product] = started;
  if (acme.status === "fulfilled" && product.status === "fulfilled") {
    return {
      product: product.value,
      acme: acme.value,
      stop: async () => void (await Promise.all([product.value.stop(), acme.value.stop()])),
    };
  }
  await Promise.all(started.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
  throw started.find((s): s is PromiseRejectedResult => s.status === "rejected")?.reason;
}
