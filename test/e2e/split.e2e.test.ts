import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAcmeBridgeAdminClient } from "../../client/index.ts";
import { localSettings } from "../../scripts/dev-vars.ts";
import { generateSecrets } from "../../scripts/secrets.ts";
import { freePortPair, type SplitServers, startSplit } from "../../scripts/split-dev.ts";
import { DOCUMENT_PATHS } from "../contract/check-responses.ts";
import { acmeBridgeSystems, ContractChecker, type OpenApiDocument } from "../contract/openapi-contract.ts";
import { eventually } from "./helpers.ts";

// The two deployments as they run on Cloudflare, locally: env.acme (the mock alone) and
// env.production (the integration alone, reaching the mock over HTTP at ACME_BASE_URL), as
// `npm run start:split` starts them, each with its own state in a temporary directory.

interface FeedEvent {
  type: string;
  source: string;
  contact: { id: string; version: number };
  changes: Record<string, { from: unknown; to: unknown }>;
}

let servers: SplitServers | undefined;
let secrets: Record<string, string>;
const persistTo = mkdtempSync(join(tmpdir(), "acme-bridge-split-"));

/**
 * `fetch` that checks each answer of either Worker against the document of the system it serves
 * (the product's, also for /acme paths it does not have; the mock's for its /acme routes).
 */
function contractFetch(product: string, acme: string) {
  let checkers: Promise<{ product: ContractChecker; acme: ContractChecker }> | undefined;
  const load = async (url: string) => (await (await fetch(url)).json()) as OpenApiDocument;
  const loadCheckers = async () => {
    const [integration, acmeDocument] = await Promise.all([
      load(`${product}${DOCUMENT_PATHS.integration}`),
      load(`${acme}${DOCUMENT_PATHS.acme}`),
    ]);
    const [integrationSystem, acmeSystem] = acmeBridgeSystems({ integration, acme: acmeDocument });
    if (!integrationSystem || !acmeSystem) throw new Error("expected the two systems");
    return { product: new ContractChecker([integrationSystem]), acme: new ContractChecker([acmeSystem]) };
  };
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const response = await fetch(request);
    const which =
      url.origin === product
        ? "product"
        : url.origin === acme && url.pathname.startsWith("/acme/")
          ? "acme"
          : null;
    if (!which) return response;
    checkers ??= loadCheckers();
    const exchange = {
      method: request.method,
      url: request.url,
      status: response.status,
      headers: response.headers,
    };
    (await checkers)[which].check({ ...exchange, body: await response.clone().text() });
    return response;
  };
}

function urls() {
  if (!servers) throw new Error("the servers did not start");
  return {
    product: servers.product.url,
    acme: servers.acme.url,
    fetch: contractFetch(servers.product.url, servers.acme.url),
  };
}

beforeAll(async () => {
  const port = await freePortPair();
  secrets = await generateSecrets();
  servers = await startSplit({ port, persistTo, vars: { ...localSettings(port), ...secrets } });
}, 180_000);

afterAll(async () => {
  await servers?.stop();
  rmSync(persistTo, { recursive: true, force: true });
});

/** An Acme client at the mock and a connection to it at the product (no base URL: ACME_BASE_URL), with an API key. */
async function connect(clientSecret?: string) {
  const { product, acme, fetch } = urls();
  const created = await fetch(`${acme}/acme/admin/clients`, {
    method: "POST",
    headers: { authorization: `Bearer ${secrets.ACME_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "split e2e" }),
  });
  expect(created.status).toBe(201);
  const client = (await created.json()) as { client_id: string; client_secret: string };
  const bridge = createAcmeBridgeAdminClient({
    baseUrl: product,
    adminToken: secrets.ADMIN_TOKEN ?? "",
    fetch,
  });
  const { data: connection } = await bridge.POST("/api/v1/admin/connections", {
    body: {
      name: "split e2e",
      acmeClientId: client.client_id,
      acmeClientSecret: clientSecret ?? client.client_secret,
    },
  });
  if (!connection) throw new Error("no connection");
  const byId = { params: { path: { id: connection.id } } };
  const { data: key } = await bridge.POST("/api/v1/admin/connections/{id}/api-keys", byId);
  if (!key) throw new Error("no API key");
  return { bridge, byId, client, apiKey: key.apiKey };
}

async function acmeToken(client: { client_id: string; client_secret: string }): Promise<string> {
  const { acme, fetch } = urls();
  const res = await fetch(`${acme}/acme/oauth/token`, {
    method: "POST",
    headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
    body: new URLSearchParams({ grant_type: "client_credentials" }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

describe("the integration and the mock Acme as two Workers (env.production, env.acme)", () => {
  it("carries a contact created through the product to the mock, and a change made at the mock back through its webhook", async () => {
    const { product, acme, fetch } = urls();
    const { bridge, byId, client, apiKey } = await connect();
    const subscribed = await bridge.POST("/api/v1/admin/connections/{id}/webhook-subscription", byId);
    expect(subscribed.response.status).toBe(201);

    const created = await fetch(`${product}/api/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ firstName: "Dorothy", lastName: "Vaughan", email: "dorothy@example.com" }),
    });
    expect(created.status).toBe(201);
    const contact = (await created.json()) as { id: string };

    const token = await acmeToken(client);
    const atAcme = await fetch(`${acme}/acme/v1/contacts/${contact.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(atAcme.status).toBe(200);
    expect(await atAcme.json()).toMatchObject({
      acme_first_name: "Dorothy",
      acme_email: "dorothy@example.com",
    });

    const patched = await fetch(`${acme}/acme/v1/contacts/${contact.id}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ acme_title: "Mathematician" }),
    });
    expect(patched.status).toBe(200);
    const update = await eventually(async () => {
      const res = await fetch(`${product}/api/v1/events?after=0&limit=500`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expect(res.status).toBe(200);
      const events = ((await res.json()) as { data: FeedEvent[] }).data;
      return events.find((e) => e.contact.id === contact.id && e.contact.version === 2);
    });
    expect(update).toMatchObject({
      type: "contact.updated",
      source: "webhook",
      changes: { title: { from: null, to: "Mathematician" } },
    });
  });

  it("answers Acme's refusal of the connection's credentials, over HTTP, as 502 acme_auth_failed", async () => {
    const { product, fetch } = urls();
    const { apiKey } = await connect("acs_not-the-secret-acme-issued");
    const res = await fetch(`${product}/api/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ firstName: "Nobody", lastName: "Here", email: "nobody@example.com" }),
    });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: "acme_auth_failed" });
  });

  it("serves no /acme on the product and no /api on the mock", async () => {
    const { product, acme, fetch } = urls();
    const mockRoute = await fetch(`${product}/acme/v1/contacts`);
    expect(mockRoute.status).toBe(404);
    expect(mockRoute.headers.get("content-type")).toBe("application/problem+json");
    const mockDocument = await fetch(`${product}/acme/openapi.json`);
    expect(mockDocument.status).toBe(404);

    const apiRoute = await fetch(`${acme}/api/v1/contacts`);
    expect(apiRoute.status).toBe(404);
    expect(await apiRoute.json()).toEqual({ error: { code: "not_found", message: "No such route." } });
    expect((await fetch(`${acme}/console`)).status).toBe(404);
  });
});
