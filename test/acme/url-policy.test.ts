import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { HTTPS_URL_SPELLING } from "../../src/lib/webhook-url-policy.ts";
import { ACME, acme, expectAcmeError, signedIn } from "./helpers.ts";

// The policy itself is tested in test/lib/webhook-url-policy.test.ts; here, how Acme's routes and
// document apply it.

describe("the document's webhook url", () => {
  it("states the spelling the server checks, on create and on patch, and refuses what the server refuses", async () => {
    const doc = await (await acme("/openapi.json")).json<{
      components: {
        schemas: Record<string, { properties: { url: { pattern?: string; description?: string } } }>;
      };
    }>();
    for (const name of ["AcmeWebhookSubscriptionInput", "AcmeWebhookSubscriptionPatch"]) {
      const url = doc.components.schemas[name]?.properties.url;
      expect(url?.pattern, name).toBe(HTTPS_URL_SPELLING.source);
      expect(url?.description, name).toMatch(/public host/);
    }
    const { token } = await signedIn({ scopes: ["webhooks.manage"] });
    const res = await acme("/v1/webhooks", {
      token,
      method: "POST",
      body: { url: "https:receiver.example.com/x", events: ["contact.created"] },
    });
    const body = await expectAcmeError(res, 400, "validation_failed");
    expect(body.error.details?.[0]?.field).toBe("url");
  });
});

describe("POST and PATCH /acme/v1/webhooks refuse private targets", () => {
  const subscribe = (token: string, url: string) =>
    acme("/v1/webhooks", { token, method: "POST", body: { url, events: ["contact.created"] } });

  it("refuses the NAT64 form of the metadata address with 400 naming the url, and creates nothing", async () => {
    const { token } = await signedIn({ scopes: ["webhooks.manage"] });
    const res = await subscribe(token, "https://[64:ff9b::a9fe:a9fe]/x");
    const body = await expectAcmeError(res, 400, "validation_failed");
    expect(body.error.details?.[0]?.field).toBe("url");
    const list = await acme("/v1/webhooks", { token });
    expect(await list.json()).toEqual({ results: [] });
  });

  it("accepts a public URL, then refuses a PATCH to a private one and keeps the old URL", async () => {
    const { token } = await signedIn({ scopes: ["webhooks.manage"] });
    const created = await subscribe(token, "https://receiver.example.com/hook");
    expect(created.status).toBe(201);
    const { id } = await created.json<{ id: string }>();
    for (const url of ["https://[::ffff:a9fe:a9fe]/x", "https://0x7f000001/x", "https://localhost./x"]) {
      const res = await acme(`/v1/webhooks/${id}`, { token, method: "PATCH", body: { url } });
      const body = await expectAcmeError(res, 400, "validation_failed");
      expect(body.error.details?.[0]?.field).toBe("url");
    }
    const read = await acme(`/v1/webhooks/${id}`, { token });
    expect(await read.json()).toMatchObject({ url: "https://receiver.example.com/hook" });
  });

  it("accepts a loopback target only where the deployment allows loopback, and nothing more", async () => {
    const { token } = await signedIn({ scopes: ["webhooks.manage"] });
    const devEnv = { ...env, ACME_WEBHOOK_ALLOW_LOOPBACK: "true" };
    const post = (url: string) =>
      createApp().fetch(
        new Request(`${ACME}/v1/webhooks`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ url, events: ["contact.created"] }),
        }),
        devEnv,
        createExecutionContext(),
      );
    expect((await post("http://localhost.:8787/hook")).status).toBe(201);
    await expectAcmeError(await post("http://[64:ff9b::7f00:1]/hook"), 400, "validation_failed");
    await expectAcmeError(await post("https://[::ffff:a9fe:a9fe]/hook"), 400, "validation_failed");
  });
});
