import { env, SELF } from "cloudflare:test";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { ACME, createClient, requestToken } from "./helpers.ts";

function post(body: string, headers: Record<string, string>) {
  return SELF.fetch(`${ACME}/oauth/token`, { method: "POST", headers, body });
}

const form = { "content-type": "application/x-www-form-urlencoded" };

describe("POST /acme/oauth/token", () => {
  it("issues an ES256 at+jwt to a client authenticated with HTTP Basic", async () => {
    const client = await createClient();
    const res = await requestToken(client);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 3600 });
    expect(body.scope).toBe("contacts.read contacts.write webhooks.manage");

    const jwks = await (await SELF.fetch(`${ACME}/.well-known/jwks.json`)).json<{ keys: [] }>();
    const token = body.access_token as string;
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "ES256", typ: "at+jwt" });
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: env.ACME_ISSUER,
      audience: env.ACME_AUDIENCE,
    });
    expect(payload).toMatchObject({ sub: client.clientId, client_id: client.clientId });
    expect(typeof payload.jti).toBe("string");
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
  });

  it("accepts credentials in a form body and in JSON", async () => {
    const client = await createClient();
    const viaForm = await post(
      new URLSearchParams({
        grant_type: "client_credentials",
        client_id: client.clientId,
        client_secret: client.clientSecret,
      }).toString(),
      form,
    );
    expect(viaForm.status).toBe(200);
    const viaJson = await post(
      JSON.stringify({
        grant_type: "client_credentials",
        client_id: client.clientId,
        client_secret: client.clientSecret,
      }),
      { "content-type": "application/json" },
    );
    expect(viaJson.status).toBe(200);
  });

  it("narrows the token to a requested scope", async () => {
    const client = await createClient();
    const res = await requestToken(client, "contacts.read");
    expect((await res.json<{ scope: string }>()).scope).toBe("contacts.read");
  });

  it("stores only a keyed hash of the client secret", async () => {
    const client = await createClient();
    const row = await env.ACME_DB.prepare("SELECT * FROM clients WHERE id = ?").bind(client.clientId).first();
    expect(JSON.stringify(row)).not.toContain(client.clientSecret);
    expect(row?.secret_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  describe("RFC 6749 errors", () => {
    it("invalid_request when grant_type is missing", async () => {
      const res = await post("client_id=a&client_secret=b", form);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_request" });
    });

    it("invalid_request for a body that is neither form nor JSON", async () => {
      const res = await post("grant_type=client_credentials", { "content-type": "text/plain" });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_request" });
    });

    it("invalid_request when a parameter is repeated", async () => {
      const res = await post("grant_type=client_credentials&grant_type=client_credentials", form);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_request" });
    });

    it("invalid_request when the client authenticates twice", async () => {
      const client = await createClient();
      const res = await post(`grant_type=client_credentials&client_id=${client.clientId}&client_secret=x`, {
        ...form,
        authorization: `Basic ${btoa(`${client.clientId}:${client.clientSecret}`)}`,
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_request" });
    });

    it("unsupported_grant_type for other grants", async () => {
      const res = await post("grant_type=password&username=a&password=b", form);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "unsupported_grant_type" });
    });

    it("invalid_scope for a scope the client does not have", async () => {
      const client = await createClient({ scopes: ["contacts.read"] });
      const res = await requestToken(client, "contacts.read contacts.write");
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_scope" });
    });

    it("invalid_client with a Basic challenge for a wrong secret sent by Basic", async () => {
      const client = await createClient();
      const res = await requestToken({ ...client, clientSecret: "wrong" });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Basic /);
      expect(await res.json()).toMatchObject({ error: "invalid_client" });
    });

    it("invalid_client for an unknown client or missing credentials", async () => {
      const unknown = await post("grant_type=client_credentials&client_id=nobody&client_secret=x", form);
      expect(unknown.status).toBe(401);
      expect(await unknown.json()).toMatchObject({ error: "invalid_client" });
      const missing = await post("grant_type=client_credentials", form);
      expect(missing.status).toBe(401);
      expect(await missing.json()).toMatchObject({ error: "invalid_client" });
    });

    it("rate limits repeated bad secrets for one client, even once the right secret arrives", async () => {
      const client = await createClient();
      for (let i = 0; i < 5; i++) {
        expect((await requestToken({ ...client, clientSecret: `wrong-${i}` })).status).toBe(401);
      }
      const locked = await requestToken(client);
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await locked.json()).toMatchObject({ error: { code: "rate_limited" } });
    });
  });
});
