// Demo data for local dev: an Acme client (an account with a few contacts) and an integration
// connection to it with an API key. Credentials are kept under .wrangler/ (gitignored), since
// both systems store only hashes of the secrets they issue.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createAcmeBridgeAdminClient, createAcmeBridgeClient } from "../client/index.ts";
import { ROOT } from "./wrangler-dev.ts";

/** Where the demo lives: the integration and the mock Acme, in one Worker or two. */
export interface DemoTarget {
  /** The integration's origin (/api, /docs, /console). */
  apiBase: string;
  /** The mock Acme's origin (its routes under /acme). */
  acmeBase: string;
  /** The demo connection's `acmeBaseUrl`: null for the deployment's default. */
  connectionAcmeBaseUrl: string | null;
  /** The file keeping the demo's credentials between runs. */
  statePath: string;
  /** The first line of the banner. */
  title: string;
}

/** `npm start`: both systems in one Worker at `base`, Acme dispatched in-process. */
export function oneWorkerDemo(base: string): DemoTarget {
  return {
    apiBase: base,
    acmeBase: base,
    connectionAcmeBaseUrl: null,
    statePath: join(ROOT, ".wrangler", "demo.json"),
    title: "acme-bridge is running locally.",
  };
}

interface DemoState {
  acmeClientId: string;
  acmeClientSecret: string;
  connectionId: string;
  apiKey: string;
  webhookSubscriptionId: string;
  /** A user of the demo Acme account who can sign in at Acme's consent page (connect flow). */
  acmeUserEmail?: string;
  acmeUserPassword?: string;
}

/** The end user id the demo's connect link is for. */
export const DEMO_END_USER = "demo-user";

/** What the banner shows of the connect flow: a ready link and who signs in at Acme. */
interface DemoConnect {
  url: string;
  expiresAt: string;
  email: string;
  password: string;
}

async function sendJson(url: string, method: string, token: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/**
 * Registers the product's app at the mock Acme with the .dev.vars credentials (ACME_OAUTH_CLIENT_ID,
 * ACME_OAUTH_CLIENT_SECRET) and the callback `<apiBase>/connect/callback`; an app already
 * registered (a restart) gets its redirect URIs re-pointed, as the port may have changed.
 */
async function ensureDemoApp(target: DemoTarget, vars: Record<string, string>): Promise<void> {
  const acmeAdmin = vars.ACME_ADMIN_TOKEN ?? "";
  const clientId = vars.ACME_OAUTH_CLIENT_ID;
  const clientSecret = vars.ACME_OAUTH_CLIENT_SECRET;
  if (!clientId || !clientSecret)
    throw new Error(".dev.vars lacks ACME_OAUTH_CLIENT_ID or ACME_OAUTH_CLIENT_SECRET");
  const redirectUris = [`${target.apiBase}/connect/callback`];
  const created = await sendJson(`${target.acmeBase}/acme/admin/apps`, "POST", acmeAdmin, {
    name: "acme-bridge (local demo)",
    client_id: clientId,
    client_secret: clientSecret,
    redirectUris,
  });
  if (created.status === 201) return;
  if (created.status !== 409)
    throw new Error(`registering the app failed: ${created.status} ${await created.text()}`);
  const patched = await sendJson(
    `${target.acmeBase}/acme/admin/apps/${encodeURIComponent(clientId)}`,
    "PATCH",
    acmeAdmin,
    { redirectUris },
  );
  if (patched.status !== 200)
    throw new Error(`updating the app failed: ${patched.status} ${await patched.text()}`);
}

/** Gives the demo account a user who can sign in at Acme (once; kept in the demo state). */
async function ensureDemoUser(
  target: DemoTarget,
  vars: Record<string, string>,
  state: DemoState,
): Promise<void> {
  if (state.acmeUserEmail && state.acmeUserPassword) return;
  const email = `demo-${state.acmeClientId.slice(-8).toLowerCase()}@example.com`;
  const password = `demo-${crypto.randomUUID().slice(0, 13)}`;
  const res = await sendJson(
    `${target.acmeBase}/acme/admin/clients/${encodeURIComponent(state.acmeClientId)}/users`,
    "POST",
    vars.ACME_ADMIN_TOKEN ?? "",
    { email, password },
  );
  if (res.status !== 201)
    throw new Error(`creating the demo Acme user failed: ${res.status} ${await res.text()}`);
  state.acmeUserEmail = email;
  state.acmeUserPassword = password;
}

/** A fresh connect session for the demo end user (OAuth): its link and expiry. */
async function demoConnectSession(target: DemoTarget, vars: Record<string, string>) {
  const bridge = createAcmeBridgeAdminClient({ baseUrl: target.apiBase, adminToken: vars.ADMIN_TOKEN ?? "" });
  return created(
    await bridge.POST("/api/v1/admin/connect-sessions", {
      body: { endUserId: DEMO_END_USER, method: "oauth" },
    }),
    "the demo connect session",
  );
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

async function postJson(url: string, token: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function expectCreated<T>(res: Response, what: string): Promise<T> {
  if (res.status !== 201) throw new Error(`creating ${what} failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The data of a typed client call that had to create something, or an error naming it. */
function created<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.response.status !== 201 || result.data === undefined) {
    throw new Error(`creating ${what} failed: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

async function acmeToken(base: string, clientId: string, clientSecret: string): Promise<string | null> {
  const res = await fetch(`${base}/acme/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${btoa(`${clientId}:${clientSecret}`)}`,
    },
    body: "grant_type=client_credentials",
  });
  if (res.status !== 200) return null;
  return ((await res.json()) as { access_token: string }).access_token;
}

async function stillValid(target: DemoTarget, state: DemoState): Promise<boolean> {
  const token = await acmeToken(target.acmeBase, state.acmeClientId, state.acmeClientSecret);
  if (!token) return false;
  const api = createAcmeBridgeClient({ baseUrl: target.apiBase, apiKey: state.apiKey });
  const { response } = await api.GET("/api/v1/contacts", { params: { query: { limit: 1 } } });
  return response.status === 200;
}

async function createDemo(target: DemoTarget, vars: Record<string, string>): Promise<DemoState> {
  const acmeAdmin = vars.ACME_ADMIN_TOKEN;
  const admin = vars.ADMIN_TOKEN;
  if (!acmeAdmin || !admin) throw new Error(".dev.vars lacks ACME_ADMIN_TOKEN or ADMIN_TOKEN");
  const client = await expectCreated<{ client_id: string; client_secret: string }>(
    await postJson(`${target.acmeBase}/acme/admin/clients`, acmeAdmin, { name: "Demo client" }),
    "the demo Acme client",
  );
  const token = await acmeToken(target.acmeBase, client.client_id, client.client_secret);
  if (!token) throw new Error("the demo Acme client could not get a token");
  for (const contact of DEMO_CONTACTS) {
    await expectCreated(
      await postJson(`${target.acmeBase}/acme/v1/contacts`, token, contact),
      "a demo contact",
    );
  }
  const bridge = createAcmeBridgeAdminClient({ baseUrl: target.apiBase, adminToken: admin });
  const connection = created(
    await bridge.POST("/api/v1/admin/connections", {
      body: {
        name: target.connectionAcmeBaseUrl
          ? "Demo connection (mock Acme over HTTP)"
          : "Demo connection (in-Worker mock Acme)",
        acmeBaseUrl: target.connectionAcmeBaseUrl,
        acmeClientId: client.client_id,
        acmeClientSecret: client.client_secret,
      },
    }),
    "the demo connection",
  );
  const byId = { params: { path: { id: connection.id } } };
  const key = created(await bridge.POST("/api/v1/admin/connections/{id}/api-keys", byId), "the demo API key");
  // Acme's webhooks for the demo account flow to this connection's receiver with no manual step.
  const subscription = created(
    await bridge.POST("/api/v1/admin/connections/{id}/webhook-subscription", byId),
    "the demo webhook subscription",
  );
  return {
    acmeClientId: client.client_id,
    acmeClientSecret: client.client_secret,
    connectionId: connection.id,
    apiKey: key.apiKey,
    webhookSubscriptionId: subscription.subscriptionId,
  };
}

/**
 * Acme delivers the demo contacts' webhooks to the new subscription a moment after seeding; waiting
 * for them to reach the change feed (at most 20 s) keeps their log lines above the banner.
 */
async function demoChangesArrived(base: string, apiKey: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${base}/api/v1/events?after=0`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    if (res.ok && ((await res.json()) as { data: unknown[] }).data.length >= DEMO_CONTACTS.length) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Seeds the demo at `target` (or finds the one saved still valid there) and returns its
 * credentials and the banner describing how to call it. `vars` holds the admin tokens
 * (ACME_ADMIN_TOKEN, ADMIN_TOKEN). Throws naming what could not be created.
 */
export async function seedDemo(
  target: DemoTarget,
  vars: Record<string, string>,
): Promise<{ state: DemoState; banner: string; connect: DemoConnect }> {
  const saved = existsSync(target.statePath)
    ? (JSON.parse(readFileSync(target.statePath, "utf8")) as Partial<DemoState>)
    : null;
  let state = saved?.apiKey && saved.webhookSubscriptionId ? (saved as DemoState) : null;
  if (!state || !(await stillValid(target, state))) {
    state = await createDemo(target, vars);
    await demoChangesArrived(target.apiBase, state.apiKey);
  }
  // The connect flow: the product's app at Acme, a user of the demo account, and a fresh link.
  await ensureDemoApp(target, vars);
  await ensureDemoUser(target, vars, state);
  mkdirSync(dirname(target.statePath), { recursive: true });
  writeFileSync(target.statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
  const session = await demoConnectSession(target, vars);
  const connect: DemoConnect = {
    url: session.url,
    expiresAt: session.expiresAt,
    email: state.acmeUserEmail ?? "",
    password: state.acmeUserPassword ?? "",
  };
  const base = target.apiBase;
  const acmeBase = target.acmeBase;
  const banner = [
    "",
    target.title,
    "",
    `  Integration API    ${base}/api      docs: ${base}/docs   OpenAPI: ${base}/api/openapi.json`,
    `  Demo API key       ${state.apiKey}   (connection ${state.connectionId})`,
    "",
    "  Create and read a contact through the integration:",
    `    curl -s -X POST ${base}/api/v1/contacts -H 'Authorization: Bearer ${state.apiKey}' \\`,
    `      -H 'Content-Type: application/json' -d '{"firstName":"Katherine","lastName":"Johnson","email":"katherine@example.com"}'`,
    `    curl -s ${base}/api/v1/contacts -H 'Authorization: Bearer ${state.apiKey}'`,
    "",
    "  Watch changes arrive through Acme's webhooks (also changes made directly at Acme):",
    `    curl -s '${base}/api/v1/events?after=0' -H 'Authorization: Bearer ${state.apiKey}'`,
    "",
    `  Mock Acme CRM      ${acmeBase}/acme     OpenAPI: ${acmeBase}/acme/openapi.json`,
    `  Demo Acme client   ${state.acmeClientId} / ${state.acmeClientSecret}`,
    `    curl -s -u '${state.acmeClientId}:${state.acmeClientSecret}' -d grant_type=client_credentials ${acmeBase}/acme/oauth/token`,
    "",
    "  Connect a customer's Acme account in the browser (hosted connect flow, OAuth at Acme):",
    `    ${connect.url}`,
    `    single use, expires in 30 minutes (${connect.expiresAt}); sign in at Acme as`,
    `    ${connect.email} / ${connect.password} and approve. The link is for end user "${DEMO_END_USER}"; find`,
    `    the connection it makes with: curl -s '${base}/api/v1/admin/connections?endUserId=${DEMO_END_USER}' -H "Authorization: Bearer $(grep '^ADMIN_TOKEN=' .dev.vars | cut -d= -f2)"`,
    "    Another link:",
    `    curl -s -X POST ${base}/api/v1/admin/connect-sessions -H "Authorization: Bearer $(grep '^ADMIN_TOKEN=' .dev.vars | cut -d= -f2)" \\`,
    `      -H 'Content-Type: application/json' -d '{"endUserId":"${DEMO_END_USER}"}'`,
    "",
    "  Admin tokens are in .dev.vars (ADMIN_TOKEN for /api/v1/admin, ACME_ADMIN_TOKEN for /acme/admin).",
    "",
    `  Operator console   ${base}/console`,
    "    sign in with the integration's admin token: grep '^ADMIN_TOKEN=' .dev.vars",
    "",
    "  Request logs follow, one line each (LOG_FORMAT=pretty in .dev.vars; json for structured lines).",
    "  Press Ctrl-C to stop.",
    "",
  ].join("\n");
  return { state, banner, connect };
}
