import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/wrangler-dev.ts";
import { runOnSystemNode } from "./system-node.ts";

// The first command a newcomer types, on the machine's own Node (which may be older than the
// Node 24 the scripts run on). A dry run from the lockfile, offline: it resolves the same tree and
// runs the same engine checks as a real install, without downloading or writing node_modules.

const scratchDirs: string[] = [];
afterEach(() => {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of what a clone holds for npm: package.json (optionally edited), the lockfile, .npmrc. */
function scratchClone(editPackage: (pkg: { dependencies: Record<string, string> }) => void = () => {}) {
  const dir = mkdtempSync(join(tmpdir(), "acme-bridge-install-"));
  scratchDirs.push(dir);
  for (const name of ["package-lock.json", ".npmrc"]) copyFileSync(join(ROOT, name), join(dir, name));
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  editPackage(pkg);
  writeFileSync(join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  return dir;
}

const DRY_INSTALL = ["install", "--dry-run", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"];

describe("npm install on the system's Node", () => {
  it("prints no warnings: no EBADENGINE for dependencies that declare a newer Node", () => {
    const result = runOnSystemNode("npm", DRY_INSTALL, scratchClone());
    const output = result.stdout + result.stderr;
    expect(result.status, output).toBe(0);
    expect(output).not.toMatch(/EBADENGINE|npm warn/i);
    expect(output).toMatch(/added \d+ packages/);
  });

  it("still prints errors and fails, here for a dependency that cannot be resolved", () => {
    const dir = scratchClone((pkg) => {
      pkg.dependencies["acme-bridge-no-such-package"] = "1.0.0";
    });
    const result = runOnSystemNode("npm", DRY_INSTALL, dir);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/npm error code E\w+/);
    expect(result.stderr).toContain("acme-bridge-no-such-package");
  });
});
