// `npm run client:generate`: starts `wrangler dev` on a free port with throwaway state and secrets
// (no network needed), reads /api/openapi.json and writes client/openapi.json and client/schema.d.ts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLIENT_DIR, renderClientFiles } from "./client-files.ts";
import { localSettings } from "./dev-vars.ts";
import { generateSecrets } from "./secrets.ts";
import { freePort, startDevServer } from "./wrangler-dev.ts";

const persistTo = mkdtempSync(join(tmpdir(), "acme-bridge-client-"));
const port = await freePort();
const server = await startDevServer({
  port,
  persistTo,
  vars: { ...localSettings(port), ...(await generateSecrets()) },
});
try {
  const res = await fetch(`${server.url}/api/openapi.json`);
  if (res.status !== 200) throw new Error(`/api/openapi.json answered ${res.status}`);
  const files = await renderClientFiles((await res.json()) as object);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(CLIENT_DIR, name), text);
  console.log(
    `Wrote ${Object.keys(files)
      .map((name) => `client/${name}`)
      .join(" and ")}.`,
  );
} finally {
  await server.stop();
  rmSync(persistTo, { recursive: true, force: true });
}
