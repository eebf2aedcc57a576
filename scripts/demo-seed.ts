// Demo data for local dev: one Acme client (an account with a few contacts). Its credentials are
// kept in .wrangler/demo.json, since Acme stores only a hash of the secret.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./wrangler-dev.ts";

const DEMO_PATH = join(ROOT, ".wrangler", "demo.json");

interface DemoState {
  acmeClientId: string;
  acmeClientSecret: string;
}

const DEMO_CONTACTS = [
  {
    acme_first_name: "Ada",
    acme_last_name: "Lovelace",
    acme_email: "ada@example.com",
    acme_company: "Analytical Engines",
  },
  {
    acme_first_name: "Grace",
    acme_last_name: "Hopper",
    acme_email: "grace@example.com",
    acme_title: "Rear Admiral",
  },
  {
    acme_first_name: "Alan",
    acme_last_name: "Turing",
    acme_email: "alan@example.com",
    acme_phone: "+44 20 7946 0000",
  },
];

async function call(url: string, init: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  return res;
}

async function acmeToken(base: string, state: DemoState): Promise<string | null> {
  const res = await call(`${base}/acme/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${btoa(`${state.acmeClientId}:${state.acmeClientSecret}`)}`,
    },
    body: "grant_type=client_credentials",
  });
  if (res.status !== 200) return null;
  return ((await res.json()) as { access_token: string }).access_token;
}

async function createAcmeClient(base: string, adminToken: string): Promise<DemoState> {
  const res = await call(`${base}/acme/admin/clients`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "Demo client" }),
  });
  if (res.status !== 201)
    throw new Error(`creating the demo Acme client failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { client_id: string; client_secret: string };
  return { acmeClientId: body.client_id, acmeClientSecret: body.client_secret };
}

export async function seedDemo(
  base: string,
  vars: Record<string, string>,
): Promise<{ state: DemoState; banner: string }> {
  const adminToken = vars.ACME_ADMIN_TOKEN;
  if (!adminToken) throw new Error(".dev.vars has no ACME_ADMIN_TOKEN");
  let state: DemoState | null = existsSync(DEMO_PATH)
    ? (JSON.parse(readFileSync(DEMO_PATH, "utf8")) as DemoState)
    : null;
  let token = state ? await acmeToken(base, state) : null;
  if (!state || !token) {
    state = await createAcmeClient(base, adminToken);
    token = await acmeToken(base, state);
    if (!token) throw new Error("the new demo client could not get a token");
    for (const contact of DEMO_CONTACTS) {
      await call(`${base}/acme/v1/contacts`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(contact),
      });
    }
    mkdirSync(join(ROOT, ".wrangler"), { recursive: true });
    writeFileSync(DEMO_PATH, JSON.stringify(state, null, 2), { mode: 0o600 });
  }
  const banner = [
    "",
    "acme-bridge is running locally.",
    "",
    `  Mock Acme CRM      ${base}/acme   (OpenAPI: ${base}/acme/openapi.json)`,
    `  Demo Acme client   id ${state.acmeClientId}`,
    `                     secret ${state.acmeClientSecret}`,
    "",
    "  Get an Acme token and list the demo contacts:",
    `    TOKEN=$(curl -s -u '${state.acmeClientId}:${state.acmeClientSecret}' -d grant_type=client_credentials \\`,
    `      ${base}/acme/oauth/token | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
    `    curl -s -H "Authorization: Bearer $TOKEN" ${base}/acme/v1/contacts`,
    "",
    "  Press Ctrl-C to stop.",
    "",
  ].join("\n");
  return { state, banner };
}
