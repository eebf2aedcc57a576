import { env } from "cloudflare:test";
import { base64url, decodeJwt, generateKeyPair, importJWK, type JWTPayload, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import {
  issueAccessToken,
  MAX_CLOCK_SKEW_SECONDS,
  verifyAccessToken,
} from "../../src/acme/auth/access-token.ts";
import { loadAcmeConfig } from "../../src/acme/config.ts";
import {
  acme,
  createClient,
  createContact,
  expectAcmeError,
  signedIn,
  tokenFor,
  uniqueEmail,
} from "./helpers.ts";

const PRIVATE_JWK = JSON.parse(env.ACME_JWT_PRIVATE_KEY) as { kid: string; d: string; x: string; y: string };
const KID = PRIVATE_JWK.kid;
const signingKey = importJWK(PRIVATE_JWK, "ES256");

interface TokenOptions {
  claims?: JWTPayload;
  header?: Record<string, unknown>;
  issuer?: string;
  audience?: string;
  expiresAt?: number;
  issuedAt?: number;
  key?: CryptoKey | Uint8Array;
  alg?: string;
}

/** A token signed like Acme's own (ES256, at+jwt, right iss/aud), with any part overridden. */
async function selfSigned(subject: string, options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: subject, scope: "contacts.read contacts.write", ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? "ES256", typ: "at+jwt", kid: KID, ...options.header })
    .setIssuer(options.issuer ?? env.ACME_ISSUER)
    .setAudience(options.audience ?? env.ACME_AUDIENCE)
    .setSubject(subject)
    .setIssuedAt(options.issuedAt ?? now - 10)
    .setExpirationTime(options.expiresAt ?? now + 300)
    .setJti(crypto.randomUUID())
    .sign(options.key ?? (await signingKey));
}

function encodeSegment(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

async function expectInvalidToken(res: Response) {
  const body = await expectAcmeError(res, 401, "invalid_token");
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
  expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
  return body;
}

/** RFC 6750 3.1: no bearer credentials at all get the bare challenge, with no error code. */
async function expectMissingToken(res: Response) {
  const body = await expectAcmeError(res, 401, "unauthorized");
  expect(res.headers.get("www-authenticate")).toBe('Bearer realm="acme"');
  expect(res.headers.get("www-authenticate")).not.toContain("error=");
  return body;
}

describe("bearer tokens on /acme/v1", () => {
  it("accepts a token Acme issued", async () => {
    const { token } = await signedIn();
    expect((await acme("/v1/contacts", { token })).status).toBe(200);
  });

  it("accepts a self-signed token with correct claims, so the matrix below rejects for its own reason", async () => {
    const client = await createClient();
    const res = await acme("/v1/contacts", { token: await selfSigned(client.clientId) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ results: [] });
  });

  const withoutBearerCredentials: [string, () => Promise<Record<string, string>>][] = [
    ["no Authorization header", async () => ({})],
    ["a Basic scheme", async () => ({ authorization: `Basic ${btoa("client:secret")}` })],
    [
      "a token sent in the wrong scheme",
      async () => ({ authorization: `Token ${await selfSigned("cl_x")}` }),
    ],
  ];

  it.each(withoutBearerCredentials)(
    "rejects %s with 401 and a bare Bearer challenge (no error code)",
    async (_label, headers) => {
      await expectMissingToken(await acme("/v1/contacts", { headers: await headers() }));
    },
  );

  const rejections: [string, () => Promise<Record<string, string>>][] = [
    ["Bearer with no token", async () => ({ authorization: "Bearer " })],
    ["a garbage token", async () => ({ authorization: "Bearer not.a.jwt" })],
    ["a token with characters outside the token68 set", async () => ({ authorization: "Bearer abc def" })],
    ["the admin token", async () => ({ authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` })],
    [
      "an expired token",
      async () => ({
        authorization: `Bearer ${await selfSigned("cl_x", { expiresAt: Math.floor(Date.now() / 1000) - 5 })}`,
      }),
    ],
    [
      "a token whose payload was changed after signing",
      async () => {
        const [header, payload, signature] = (await selfSigned("cl_victim")).split(".");
        const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? "")));
        const forged = encodeSegment({ ...claims, scope: `${claims.scope} webhooks.manage` });
        return { authorization: `Bearer ${header}.${forged}.${signature}` };
      },
    ],
    [
      "an unsigned alg: none token",
      async () => {
        const claims = decodeJwt(await selfSigned("cl_x"));
        const header = encodeSegment({ alg: "none", typ: "at+jwt", kid: KID });
        return { authorization: `Bearer ${header}.${encodeSegment(claims)}.` };
      },
    ],
    [
      "an HS256 token keyed with the public key (algorithm confusion)",
      async () => {
        const { d: _private, ...publicJwk } = PRIVATE_JWK;
        const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
        return { authorization: `Bearer ${await selfSigned("cl_x", { alg: "HS256", key: secret })}` };
      },
    ],
    [
      "a token signed by a foreign ES256 key under Acme's kid",
      async () => {
        const { privateKey } = await generateKeyPair("ES256");
        return { authorization: `Bearer ${await selfSigned("cl_x", { key: privateKey })}` };
      },
    ],
    [
      "a token from another issuer",
      async () => ({
        authorization: `Bearer ${await selfSigned("cl_x", { issuer: "https://evil.example/acme" })}`,
      }),
    ],
    [
      "a token for another audience",
      async () => ({ authorization: `Bearer ${await selfSigned("cl_x", { audience: "another-api" })}` }),
    ],
    [
      "a token with typ JWT instead of at+jwt",
      async () => ({ authorization: `Bearer ${await selfSigned("cl_x", { header: { typ: "JWT" } })}` }),
    ],
    [
      "a token without client_id",
      async () => ({
        authorization: `Bearer ${await selfSigned("cl_x", { claims: { client_id: undefined } })}`,
      }),
    ],
    [
      "a token whose scope is not a string",
      async () => ({
        authorization: `Bearer ${await selfSigned("cl_x", { claims: { scope: ["contacts.read"] } })}`,
      }),
    ],
  ];

  it.each(rejections)("rejects %s with 401 invalid_token", async (_label, headers) => {
    const res = await acme("/v1/contacts", { headers: await headers() });
    await expectInvalidToken(res);
  });

  it("tells the caller nothing about why: expired and wrong-audience tokens get the same message", async () => {
    const expired = await selfSigned("cl_x", { expiresAt: Math.floor(Date.now() / 1000) - 5 });
    const wrongAudience = await selfSigned("cl_x", { audience: "another-api" });
    const a = await expectInvalidToken(await acme("/v1/contacts", { token: expired }));
    const b = await expectInvalidToken(await acme("/v1/contacts", { token: wrongAudience }));
    expect(a.error.message).toBe(b.error.message);
  });

  it("does not let a forged subject read another account's contacts", async () => {
    const victim = await signedIn();
    const contact = await createContact(victim.token, { acme_email: uniqueEmail() });
    const { token: attackerToken } = await signedIn();
    const [header, payload, signature] = attackerToken.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? "")));
    const forged = `${header}.${encodeSegment({ ...claims, sub: victim.client.clientId, client_id: victim.client.clientId })}.${signature}`;
    await expectInvalidToken(await acme(`/v1/contacts/${contact.id}`, { token: forged }));
    // The attacker's genuine token sees nothing of the victim's.
    await expectAcmeError(
      await acme(`/v1/contacts/${contact.id}`, { token: attackerToken }),
      404,
      "not_found",
    );
  });
});

describe("token issue time (iat)", () => {
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  it("accepts a token issued slightly in the future (clock skew within the tolerance)", async () => {
    const client = await createClient();
    const token = await selfSigned(client.clientId, { issuedAt: nowSeconds() + MAX_CLOCK_SKEW_SECONDS - 30 });
    expect((await acme("/v1/contacts", { token })).status).toBe(200);
  });

  it("refuses a token issued further in the future than the tolerance with 401 invalid_token", async () => {
    const client = await createClient();
    const token = await selfSigned(client.clientId, {
      issuedAt: nowSeconds() + MAX_CLOCK_SKEW_SECONDS + 60,
      expiresAt: nowSeconds() + 3600,
    });
    await expectInvalidToken(await acme("/v1/contacts", { token }));
  });

  it("draws the line at exactly MAX_CLOCK_SKEW_SECONDS (fixed clock)", async () => {
    const config = loadAcmeConfig(env);
    const now = Date.UTC(2030, 0, 1);
    const issuedAhead = async (seconds: number) =>
      (await issueAccessToken(config, "cl_clock", "contacts.read", now + seconds * 1000)).accessToken;
    const atLimit = await verifyAccessToken(config, await issuedAhead(MAX_CLOCK_SKEW_SECONDS), now);
    expect(atLimit.client_id).toBe("cl_clock");
    await expect(
      verifyAccessToken(config, await issuedAhead(MAX_CLOCK_SKEW_SECONDS + 1), now),
    ).rejects.toThrow(/future/);
    // Expiry keeps no tolerance: one second past exp is refused.
    const fresh = await issuedAhead(0);
    await expect(
      verifyAccessToken(config, fresh, now + (config.tokenTtlSeconds + 1) * 1000),
    ).rejects.toThrow();
  });
});

describe("scopes", () => {
  it("lets a contacts.read token read but refuses writes with 403 insufficient_scope", async () => {
    const client = await createClient();
    const readOnly = await tokenFor(client, "contacts.read");
    expect((await acme("/v1/contacts", { token: readOnly })).status).toBe(200);

    const res = await acme("/v1/contacts", {
      token: readOnly,
      method: "POST",
      body: { acme_email: uniqueEmail() },
    });
    await expectAcmeError(res, 403, "insufficient_scope");
    expect(res.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
    expect(res.headers.get("www-authenticate")).toContain('scope="contacts.write"');

    const full = await tokenFor(client);
    expect(await (await acme("/v1/contacts", { token: full })).json()).toEqual({ results: [] });
  });

  it("refuses PUT, PATCH and DELETE to a contacts.read token and changes nothing", async () => {
    const client = await createClient();
    const writer = await tokenFor(client);
    const readOnly = await tokenFor(client, "contacts.read");
    const contact = await createContact(writer, { acme_email: uniqueEmail() });
    const path = `/v1/contacts/${contact.id}`;
    const put = await acme(path, { token: readOnly, method: "PUT", body: { acme_email: uniqueEmail() } });
    await expectAcmeError(put, 403, "insufficient_scope");
    const patch = await acme(path, { token: readOnly, method: "PATCH", body: { acme_title: "x" } });
    await expectAcmeError(patch, 403, "insufficient_scope");
    await expectAcmeError(await acme(path, { token: readOnly, method: "DELETE" }), 403, "insufficient_scope");
    expect(await (await acme(path, { token: readOnly })).json()).toEqual(contact);
  });

  it("refuses reads to a token without contacts.read", async () => {
    const client = await createClient();
    const writeOnly = await tokenFor(client, "contacts.write");
    await expectAcmeError(await acme("/v1/contacts", { token: writeOnly }), 403, "insufficient_scope");
  });
});

describe("admin routes", () => {
  const admin = { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` };
  const newClient = { name: "admin route test" };

  it("accept the admin token", async () => {
    expect((await acme("/admin/faults", { headers: admin })).status).toBe(200);
    const res = await acme("/admin/clients", { method: "POST", headers: admin, body: newClient });
    expect(res.status).toBe(201);
  });

  // The third element: whether bearer credentials were presented (then error="invalid_token")
  // or not (then the bare challenge, RFC 6750 3.1).
  const wrongCredentials: [string, () => Promise<Record<string, string>>, "missing" | "invalid"][] = [
    ["no token", async () => ({}), "missing"],
    ["a wrong token", async () => ({ authorization: `Bearer ${env.ACME_ADMIN_TOKEN}x` }), "invalid"],
    [
      "a prefix of the admin token",
      async () => ({ authorization: `Bearer ${env.ACME_ADMIN_TOKEN.slice(0, -1)}` }),
      "invalid",
    ],
    [
      "the admin token in the Basic scheme",
      async () => ({ authorization: `Basic ${env.ACME_ADMIN_TOKEN}` }),
      "missing",
    ],
    [
      "a client access token",
      async () => ({ authorization: `Bearer ${(await signedIn()).token}` }),
      "invalid",
    ],
  ];

  const expectRefused = (res: Response, kind: "missing" | "invalid") =>
    kind === "missing" ? expectMissingToken(res) : expectInvalidToken(res);

  it.each(wrongCredentials)("GET /acme/admin/faults refuses %s with 401", async (_label, headers, kind) => {
    await expectRefused(await acme("/admin/faults", { headers: await headers() }), kind);
  });

  it.each(wrongCredentials)("PUT /acme/admin/faults refuses %s with 401", async (_label, headers, kind) => {
    const res = await acme("/admin/faults", {
      method: "PUT",
      headers: await headers(),
      body: { enabled: true },
    });
    await expectRefused(res, kind);
    expect(await (await acme("/admin/faults", { headers: admin })).json()).toMatchObject({ enabled: false });
  });

  it.each(wrongCredentials)("POST /acme/admin/clients refuses %s with 401", async (_label, headers, kind) => {
    const clientId = `intruder-${crypto.randomUUID().slice(0, 8)}`;
    const res = await acme("/admin/clients", {
      method: "POST",
      headers: await headers(),
      body: { ...newClient, client_id: clientId },
    });
    await expectRefused(res, kind);
    const row = await env.ACME_DB.prepare("SELECT id FROM clients WHERE id = ?").bind(clientId).first();
    expect(row).toBeNull();
  });

  it.each(wrongCredentials)(
    "PUT /acme/admin/clients/{id}/rate-limits refuses %s with 401",
    async (_label, headers, kind) => {
      const res = await acme("/admin/clients/anyone/rate-limits", {
        method: "PUT",
        headers: await headers(),
        body: { read: { limit: 1_000_000, windowSeconds: 1 } },
      });
      await expectRefused(res, kind);
    },
  );
});
