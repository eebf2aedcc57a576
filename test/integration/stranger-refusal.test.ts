import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { withIdTag } from "../../src/lib/id-tag.ts";
import { newId, randomSecret } from "../../src/lib/ids.ts";
import { BASE, expectProblem, newConnection } from "./helpers.ts";

const app = createApp();

/** The test env with `DB` wrapped so every query the Worker starts (prepare, batch, exec) is counted. */
function countingEnv(): { env: Env; queries: () => number } {
  let queries = 0;
  const db = new Proxy(env.DB, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (property === "prepare" || property === "batch" || property === "exec") queries += 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { env: { ...env, DB: db }, queries: () => queries };
}

/** `value` with its last (hex) character replaced by another. */
function changedLast(value: string): string {
  return `${value.slice(0, -1)}${value.endsWith("0") ? "1" : "0"}`;
}

async function send(on: Env, path: string, init: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, init), on, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

function webhook(on: Env, connectionId: string) {
  return send(on, `/webhooks/acme/${connectionId}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": "msg_stranger",
      "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
      "webhook-signature": "v1,c2lnbmF0dXJl",
    },
    body: "{}",
  });
}

function listContacts(on: Env, key: string) {
  return send(on, "/api/v1/contacts", { headers: { authorization: `Bearer ${key}` } });
}

describe("strangers are refused before D1", () => {
  it.each([
    ["a random connection id", () => newId("conn")],
    ["an id tagged under another key", () => withIdTag(randomSecret(32), newId("conn"))],
    ["a real id with its tag changed", async () => changedLast((await newConnection()).connectionId)],
  ])("the webhook receiver answers %s with 401 and no D1 query", async (_, forge) => {
    const connectionId = await forge();
    const counted = countingEnv();
    await expectProblem(await webhook(counted.env, connectionId), 401, "invalid_signature");
    expect(counted.queries()).toBe(0);
  });

  it("reads D1 for an id that carries this deployment's tag (the counter counts)", async () => {
    const counted = countingEnv();
    const unknown = await withIdTag(env.ID_TAG_KEY, newId("conn"));
    await expectProblem(await webhook(counted.env, unknown), 401, "invalid_signature");
    expect(counted.queries()).toBe(1);
  });

  it.each([
    ["a random key", () => randomSecret(32, "ab_")],
    ["a key tagged under another key", () => withIdTag(randomSecret(32), randomSecret(32, "ab_"))],
    ["a real key with its tag changed", async () => changedLast((await newConnection()).apiKey)],
  ])("the API answers %s with 401 and no D1 query", async (_, forge) => {
    const key = await forge();
    const counted = countingEnv();
    await expectProblem(await listContacts(counted.env, key), 401, "unauthorized");
    expect(counted.queries()).toBe(0);
  });

  it("looks up a key that carries this deployment's tag, and serves a real one", async () => {
    const counted = countingEnv();
    const unknown = await withIdTag(env.ID_TAG_KEY, randomSecret(32, "ab_"));
    await expectProblem(await listContacts(counted.env, unknown), 401, "unauthorized");
    expect(counted.queries()).toBe(1);
    const { apiKey, connectionId } = await newConnection();
    expect(apiKey).toMatch(/^ab_[A-Za-z0-9_-]{43}[0-9a-f]{12}$/);
    expect(connectionId).toMatch(/^conn_[0-9a-z]{26}[0-9a-f]{12}$/);
    expect((await listContacts(env, apiKey)).status).toBe(200);
  });
});
