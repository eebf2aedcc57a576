// The local `.dev.vars` file: generated once with fresh secrets, read back by the start script.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateSecrets } from "./secrets.ts";
import { ROOT } from "./wrangler-dev.ts";

export const DEV_VARS_PATH = join(ROOT, ".dev.vars");

/**
 * Local-only settings on top of wrangler.toml: faults on, issuer pointing at this machine, and
 * the id of the product's app at the in-Worker Acme (the demo seed registers it with that id).
 */
export function localSettings(port: number): Record<string, string> {
  return {
    ENVIRONMENT: "development",
    ACME_OAUTH_CLIENT_ID: "acme-bridge",
    ACME_FAULTS_ENABLED: "true",
    ACME_WEBHOOK_ALLOW_LOOPBACK: "true",
    DESTINATION_ALLOW_LOOPBACK: "true",
    ACME_ISSUER: `http://localhost:${port}/acme`,
    CONNECT_REDIRECT_ALLOW_LOOPBACK: "true",
  };
}

function quote(value: string): string {
  return /^[\w.:/@+-]*$/.test(value) ? value : `'${value}'`;
}

function serialize(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([key, value]) => `${key}=${quote(value)}`)
    .join("\n");
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

/**
 * Creates `.dev.vars` when missing, or adds what a newer version needs to an existing one (every
 * value already there is kept); returns the values in force. `defaults` are further settings
 * written the same way (npm start: LOG_FORMAT=pretty).
 */
export async function ensureDevVars(
  port: number,
  defaults: Record<string, string> = {},
): Promise<{ vars: Record<string, string>; created: boolean }> {
  const generated = { ...localSettings(port), ...defaults, ...(await generateSecrets()) };
  if (!existsSync(DEV_VARS_PATH)) {
    const header = "# Local secrets and settings for wrangler dev (generated; never commit).";
    writeFileSync(DEV_VARS_PATH, `${header}\n${serialize(generated)}\n`, { mode: 0o600 });
    return { vars: generated, created: true };
  }
  const text = readFileSync(DEV_VARS_PATH, "utf8");
  const existing = parseDevVars(text);
  // A file from before key rings: its one ENCRYPTION_KEY becomes the ring, so what it sealed still opens.
  if (existing.ENCRYPTION_KEY && !("ENCRYPTION_KEYS" in existing))
    generated.ENCRYPTION_KEYS = existing.ENCRYPTION_KEY;
  const missing = Object.fromEntries(Object.entries(generated).filter(([key]) => !(key in existing)));
  if (Object.keys(missing).length > 0) {
    writeFileSync(DEV_VARS_PATH, `${text.replace(/\n*$/, "\n")}${serialize(missing)}\n`, { mode: 0o600 });
  }
  return { vars: { ...existing, ...missing }, created: false };
}
