// `npm run lock`: `npm install` leaves out of package-lock.json the platform packages of other
// systems that this registry does not serve (e.g. @biomejs/cli-darwin-x64), and `npm ci` then
// refuses the lockfile as out of sync. This adds those optional entries back, marked with their
// os/cpu/libc, so that `npm ci` skips them as not for this platform instead of failing.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./wrangler-dev.ts";

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

const path = join(ROOT, "package-lock.json");
const lock = JSON.parse(readFileSync(path, "utf8")) as { packages: Record<string, LockEntry> };
const added: string[] = [];

for (const [where, entry] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${where ? `${where}/` : ""}node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (lock.packages[nested] || lock.packages[hoisted]) continue;
    const leaf = name.split("/").pop() ?? name;
    const os = /darwin/.test(leaf)
      ? "darwin"
      : /win32|windows/.test(leaf)
        ? "win32"
        : /android/.test(leaf)
          ? "android"
          : /linux/.test(leaf)
            ? "linux"
            : null;
    const cpu = /arm64/.test(leaf) ? "arm64" : /x64|-64/.test(leaf) ? "x64" : null;
    lock.packages[hoisted] = {
      version: range.replace(/^[\^~=]/, ""),
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...(os ? { os: [os] } : {}),
      ...(cpu ? { cpu: [cpu] } : {}),
      ...(/musl/.test(leaf) ? { libc: ["musl"] } : {}),
    };
    added.push(hoisted);
  }
}

writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length ? `added ${added.length} platform entries: ${added.join(", ")}` : "lockfile complete",
);
