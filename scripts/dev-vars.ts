// The local `.dev.vars` file: generated once with fresh secrets, read back by the start script.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateSecrets } from "./secrets.ts";
import { ROOT } from "./wrangler-dev.ts";

export const DEV_VARS_PATH = join(ROOT, ".dev.vars");

/** Local-only settings on top of wrangler.toml: faults on, issuer pointing at this machine. */
export function localSettings(port: number): Record<string, string> {
  return {
    ENVIRONMENT: "development",
    ACME_FAULTS_ENABLED: "true",
    ACME_ISSUER: `http://localhost:${port}/acme`,
  };
}

function quote(value: string): string {
  return /^[\w.:/@+-]*$/.test(value) ? value : `'${value}'`;
}

export function parseDevVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/.exec(line);
    if (!match?.[1]) continue;
    let value = match[2] ?? "";
    if ((value.startsWith("'") && value.endsWith("'")) || (value.startsWith('"') && value.endsWith('"'))) {
      value = value.slice(1, -1);
    }
    vars[match[1]] = value;
  }
  return vars;
}

/** Creates `.dev.vars` when missing; returns its values either way. */
export async function ensureDevVars(
  port: number,
): Promise<{ vars: Record<string, string>; created: boolean }> {
  if (existsSync(DEV_VARS_PATH))
    return { vars: parseDevVars(readFileSync(DEV_VARS_PATH, "utf8")), created: false };
  const vars = { ...localSettings(port), ...(await generateSecrets()) };
  const body = Object.entries(vars)
    .map(([key, value]) => `${key}=${quote(value)}`)
    .join("\n");
  writeFileSync(
    DEV_VARS_PATH,
    `# Local secrets and settings for wrangler dev (generated; never commit).\n${body}\n`,
    {
      mode: 0o600,
    },
  );
  return { vars, created: true };
}
