// `npm run types` and the drift check of `npm run typecheck`: worker-configuration.d.ts from the
// default (top-level) shape of wrangler.toml alone. Given a config with environments, `wrangler
// types` types every binding that some env lacks as optional, and the code is written for the
// default Worker, which has them all (env.production and env.acme each have a subset, and their
// bundles reach only the code using it). So the env tables are cut off into a temporary config
// beside wrangler.toml (relative paths resolve the same), and wrangler types reads that.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, WRANGLER_JS } from "./wrangler-dev.ts";

const CONFIG = join(ROOT, "wrangler.toml");
// Relative to ROOT, as wrangler writes it into the generated file's header.
const TOP_LEVEL_CONFIG = ".wrangler-types.toml";

/**
 * The top-level part of a wrangler.toml: everything before its first `[env.…]` table. Throws if a
 * table that is not an env's follows one (it would belong to that env in TOML, and be lost here).
 */
export function topLevelConfig(toml: string): string {
  const lines = toml.split("\n");
  const header = (line: string) => /^\s*\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line)?.[1];
  const first = lines.findIndex((line) => header(line)?.startsWith("env.") ?? false);
  if (first === -1) return toml;
  const stray = lines.slice(first).find((line) => {
    const name = header(line);
    return name !== undefined && !name.startsWith("env.");
  });
  if (stray)
    throw new Error(
      `wrangler.toml: top-level table ${stray.trim()} after the env tables; move it above them`,
    );
  return lines.slice(0, first).join("\n");
}

writeFileSync(join(ROOT, TOP_LEVEL_CONFIG), topLevelConfig(readFileSync(CONFIG, "utf8")));
try {
  const args = ["types", "--strict-vars=false", "-c", TOP_LEVEL_CONFIG, ...process.argv.slice(2)];
  const result = spawnSync(process.execPath, [WRANGLER_JS, ...args], { cwd: ROOT, stdio: "inherit" });
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(join(ROOT, TOP_LEVEL_CONFIG), { force: true });
}
