// Starts and stops `wrangler dev` for `npm start`, `npm run start:split`, the end-to-end tests and the benchmark.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// Run wrangler on the Node running this script (the project's Node 24), whatever the system has.
export const WRANGLER_JS = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const NODE_ENV_PATH = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` };
/**
 * How wrangler dev runs here: no metrics, no colours, and no fetch of the `Request.cf` object from
 * workers.cloudflare.com (miniflare's CLOUDFLARE_CF_FETCH_ENABLED=false: its placeholder, the same
 * one it falls back to offline after printing the failed request's stack, every start).
 */
const DEV_ENV = {
  ...NODE_ENV_PATH,
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** A deployment shape of wrangler.toml: its env name, or undefined for the default (top-level) Worker. */
export type WorkerEnv = "production" | "acme" | undefined;

/** The D1 bindings each shape has (wrangler.toml), whose migrations it needs. */
const D1_BINDINGS: Record<NonNullable<WorkerEnv> | "default", string[]> = {
  default: ["ACME_DB", "DB"],
  production: ["DB"],
  acme: ["ACME_DB"],
};

export interface DevServerOptions {
  port: number;
  /** Which shape of wrangler.toml to run (`--env`); the default Worker when unset. */
  env?: WorkerEnv;
  /** The path polled until it answers 200 (default /health; the Acme Worker has none). */
  healthPath?: string;
  /** Where local D1, KV, DO and queue state lives (wrangler's --persist-to). */
  persistTo?: string;
  /** Extra vars and secrets for this run (override wrangler.toml and .dev.vars). */
  vars?: Record<string, string>;
  /** Print wrangler's output as it comes, or keep it for diagnostics only (tests). */
  inheritOutput?: boolean;
  /**
   * Receives each line of wrangler's output instead (npm start: to filter it and hold it back).
   * Lines come without ANSI escapes: wrangler colours its warnings even under NO_COLOR.
   */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Expose /__scheduled to run the cron handler on demand (tests, benchmarks). */
  testScheduled?: boolean;
  /** Bundle without minifying, so a CPU profile names functions (the profiler). */
  unminified?: boolean;
}

export interface DevServer {
  url: string;
  /** Process group of wrangler dev and the workerd under it (the benchmark reads their CPU time). */
  processGroup: number;
  /** Port of the Worker's DevTools inspector (Chrome DevTools Protocol), for the profiler. */
  inspectorPort: number;
  /** Everything wrangler printed so far (stdout and stderr, by line, without ANSI escapes). */
  output: () => string;
  stop: () => Promise<void>;
  /** Kills wrangler dev and workerd at once (SIGKILL), as a crash would: no graceful shutdown. */
  kill: () => Promise<void>;
}

/**
 * Applies the migrations of the shape's databases (both in the default Worker) to local state, as
 * `wrangler d1 migrations apply --local`; throws with wrangler's output if one fails.
 */
export function applyLocalMigrations(persistTo?: string, env?: WorkerEnv): void {
  for (const binding of D1_BINDINGS[env ?? "default"]) {
    const args = [
      "d1",
      "migrations",
      "apply",
      binding,
      "--local",
      ...(persistTo ? ["--persist-to", persistTo] : []),
      ...(env ? ["--env", env] : []),
    ];
    const result = spawnSync(process.execPath, [WRANGLER_JS, ...args], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, ...NODE_ENV_PATH, CI: "true" },
    });
    if (result.status !== 0) {
      throw new Error(`migrations for ${binding} failed:\n${result.stdout}\n${result.stderr}`);
    }
  }
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const inspectorPort = await freePort();
  const args = [
    "dev",
    "--port",
    String(options.port),
    "--ip",
    "127.0.0.1",
    "--inspector-port",
    String(inspectorPort),
    "--show-interactive-dev-session=false",
    ...(options.env ? ["--env", options.env] : []),
    ...(options.persistTo ? ["--persist-to", options.persistTo] : []),
    ...(options.testScheduled ? ["--test-scheduled"] : []),
    ...(options.unminified ? ["--minify=false"] : []),
    ...Object.entries(options.vars ?? {}).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
  ];
  // Its own process group, so stopping it also stops workerd underneath.
  const child = spawn(process.execPath, [WRANGLER_JS, ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...DEV_ENV },
  });
  const onLine = options.onLine ?? (options.inheritOutput ? printLine : undefined);
  let log = "";
  for (const stream of ["stdout", "stderr"] as const) {
    let partial = "";
    const take = (line: string) => {
      const plain = stripVTControlCharacters(line);
      log += `${plain}\n`;
      onLine?.(plain, stream);
    };
    child[stream]?.setEncoding("utf8");
    child[stream]?.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) take(line);
    });
    child[stream]?.on("end", () => {
      if (partial !== "") take(partial);
      partial = "";
    });
  }
  const url = `http://127.0.0.1:${options.port}`;
  const stop = () => stopProcessGroup(child);
  const kill = () => stopProcessGroup(child, "SIGKILL");
  try {
    await waitForHealth(`${url}${options.healthPath ?? "/health"}`, child, () => log);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, processGroup: child.pid as number, inspectorPort, output: () => log, stop, kill };
}

function printLine(line: string, stream: "stdout" | "stderr"): void {
  process[stream].write(`${line}\n`);
}

async function waitForHealth(healthUrl: string, child: ChildProcess, log: () => string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasEnded(child)) {
      throw new Error(`wrangler dev exited with ${child.exitCode ?? child.signalCode}:\n${log()}`);
    }
    try {
      const res = await fetch(healthUrl);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not become healthy within ${timeoutMs} ms:\n${log()}`);
}

/** Whether the process has ended: by itself (`exitCode`) or by a signal (`signalCode`, with `exitCode` null). */
function hasEnded(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stopProcessGroup(child: ChildProcess, first: NodeJS.Signals = "SIGTERM"): Promise<void> {
  // A process already killed has no "exit" event left to wait for: waiting would hang.
  if (hasEnded(child) || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), sig);
    } catch {
      // already gone
    }
  };
  signal(first);
  const timer = setTimeout(() => signal("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
