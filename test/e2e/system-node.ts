// The machine's own Node and npm, as a newcomer (or a user of the client package) runs them: the
// npm scripts and vitest run on the project's Node 24 (node_modules/.bin/node comes first on
// their PATH), so commands meant for the system's Node run with node_modules/.bin taken off PATH.
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { delimiter, sep } from "node:path";

/** The environment with every node_modules/.bin directory removed from PATH. */
export function systemEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => !dir.includes(`${sep}node_modules${sep}.bin`))
    .join(delimiter);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: path, ...extra };
  // npm's own variables from the outer `npm run` (config, lifecycle) must not leak into the command.
  for (const key of Object.keys(env)) if (key.startsWith("npm_")) delete env[key];
  return env;
}

/**
 * Runs a command (`node`, `npm`) as the system's Node would, in `cwd`, with `env` added; returns
 * its status and output (UTF-8). Throws only if the command cannot be started (or times out).
 */
export function runOnSystemNode(
  command: string,
  args: string[],
  cwd: string,
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, {
    cwd,
    env: systemEnv(options.env),
    encoding: "utf8",
    timeout: options.timeoutMs ?? 60_000,
  });
  if (result.error) throw result.error;
  return result;
}
