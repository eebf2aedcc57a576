import { describe, expect, it } from "vitest";
import {
  approveAuthorization,
  createAccountUser,
  pkcePair,
  registerApp,
  setAcmeTarget,
} from "../acme/oauth-helpers.ts";
import { acmeAdmin, base } from "./helpers.ts";

// The authorization-code flow over real HTTP (wrangler dev), driven by the same helpers the workerd
// suite uses, with Node's fetch: what the integration's connect flow and its tests build on.

setAcmeTarget({ base: `${base}/acme`, adminToken: acmeAdmin });

const REDIRECT_URI = "http://127.0.0.1:9/callback";

async function adminJson<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`${base}/acme${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${acmeAdmin}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as T;
}

function token(app: { client_id: string; client_secret: string }, form: Record<string, string>) {
  return fetch(`${base}/acme/oauth/token`, {
    method: "POST",
    headers: { authorization: `Basic ${btoa(`${app.client_id}:${app.client_secret}`)}` },
    body: new URLSearchParams(form),
  });
}

describe("Acme's authorization-code grant over HTTP", () => {
  it("approves, exchanges the code, refreshes with rotation, and a replay revokes the grant", async () => {
    const app = await registerApp(fetch, { redirectUris: [REDIRECT_URI] });
    const account = await adminJson<{ client_id: string }>("/admin/clients", { name: "e2e oauth account" });
    const email = `e2e.${crypto.randomUUID()}@example.com`;
    await createAccountUser(fetch, account.client_id, { email, password: "correct horse battery" });

    const { verifier, challenge } = await pkcePair();
    const query = new URLSearchParams({
      response_type: "code",
      client_id: app.client_id,
      redirect_uri: REDIRECT_URI,
      state: "e2e-state",
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    const location = new URL(
      await approveAuthorization(fetch, `${base}/acme/oauth/authorize?${query}`, {
        email,
        password: "correct horse battery",
      }),
    );
    expect(location.searchParams.get("state")).toBe("e2e-state");
    const code = location.searchParams.get("code") ?? "";

    const exchanged = await token(app, {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
    expect(exchanged.status).toBe(200);
    const first = (await exchanged.json()) as {
      access_token: string;
      refresh_token: string;
      account_id: string;
    };
    expect(first.account_id).toBe(account.client_id);

    const rotated = await token(app, { grant_type: "refresh_token", refresh_token: first.refresh_token });
    expect(rotated.status).toBe(200);
    const second = (await rotated.json()) as { access_token: string; refresh_token: string };
    const contacts = await fetch(`${base}/acme/v1/contacts`, {
      headers: { authorization: `Bearer ${second.access_token}` },
    });
    expect(contacts.status).toBe(200);

    const replay = await token(app, { grant_type: "refresh_token", refresh_token: first.refresh_token });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: "invalid_grant" });
    const after = await fetch(`${base}/acme/v1/contacts`, {
      headers: { authorization: `Bearer ${second.access_token}` },
    });
    expect(after.status).toBe(401);
  });
});
