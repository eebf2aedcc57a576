// Builds client/ into the package users install: client/dist holds ES modules and their .d.ts,
// compiled by the project's TypeScript (client/tsconfig.json), beside a copy of the generated
// schema.d.ts they import. The client package's `build` and `prepack` scripts (npm pack, npm
// publish) run it; dist/ is not committed.
import { spawnSync } from "node:child_process";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CLIENT_DIR } from "./client-files.ts";
import { ROOT } from "./wrangler-dev.ts";

const DIST = join(CLIENT_DIR, "dist");
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

rmSync(DIST, { recursive: true, force: true });
const result = spawnSync(process.execPath, [TSC, "-p", join(CLIENT_DIR, "tsconfig.json")], {
  stdio: "inherit",
});
if (result.status !== 0) process.exit(result.status ?? 1);
// tsc emits no copy of a .d.ts it reads: the generated types go beside the compiled index.
copyFileSync(join(CLIENT_DIR, "schema.d.ts"), join(DIST, "schema.d.ts"));
