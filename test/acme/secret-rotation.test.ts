import { createExecutionContext, createMessageBatch, env, waitOnExecutionContext } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { afterAll, describe, expect, it } from "vitest";
import { loadAcmeConfig } from "../../src/acme/config.ts";
import { handleDeliveryBatch } from "../../src/acme/webhooks/delivery-consumer.ts";
import { createApp } from "../../src/app.ts";
import { hmacSha256 } from "../../src/lib/crypto.ts";
import { fromBase64Url, randomSecret, toBase64Url } from "../../src/lib/ids.ts";
import { secretKeyId } from "../../src/lib/secret-box.ts";
import { ACME, expectAcmeError, signedIn } from "./helpers.ts";
import { receiver, recordingQueue, storedEvent, subscribe } from "./webhook-helpers.ts";

// ACME_SECRET_KEYS rotated while webhooks are delivered. As in the integration's rotation test,
// each "isolate" is the app or the consumer given a copy of env with its own ring.

const app = createApp();
const OLD = env.ACME_SECRET_KEYS;
const NEW = randomSecret(32);

function ringEnv(ring: string): Env {
  return { ...env, ACME_SECRET_KEYS: ring } as Env;
}

const ONLY_OLD = ringEnv(OLD);
const NEW_AFTER = ringEnv(`${OLD},${NEW}`);
const NEW_FIRST = ringEnv(`${NEW},${OLD}`);
const ONLY_NEW = ringEnv(NEW);

async function call(on: Env, path: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`${ACME}${path}`, {
      method: init.method ?? "GET",
      headers,
      body: init.body === undefined ? null : JSON.stringify(init.body),
    }),
    on,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/** An event of the account delivered by the consumer running with `on`; each request must verify with one of `secrets`. */
async function deliverAndVerify(on: Env, accountId: string, secrets: string[]): Promise<void> {
  const event = await storedEvent(accountId);
  const { received, fetch } = receiver([]);
  const batch = createMessageBatch<unknown>("acme-webhook-deliveries", [
    {
      id: `m-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: 1,
      body: { kind: "fanout", eventId: event.id },
    },
  ]);
  await handleDeliveryBatch(batch, on, { fetch, queue: recordingQueue().queue });
  expect(received).toHaveLength(secrets.length);
  for (const request of received) {
    const verifying = secrets.filter((secret) => {
      try {
        new Webhook(secret).verify(request.body, request.headers);
        return true;
      } catch {
        return false;
      }
    });
    expect(verifying).toHaveLength(1);
  }
}

interface ResealReport {
  resealed: number;
  unreadable: number;
  remaining: number;
  next: string | null;
  key_id: string;
}

async function resealAll(on: Env, limit = 5): Promise<ResealReport[]> {
  const reports: ResealReport[] = [];
  let after: string | null = null;
  do {
    const query: string = `?limit=${limit}${after ? `&after=${after}` : ""}`;
    const res = await call(on, `/admin/secrets/reseal${query}`, {
      method: "POST",
      token: env.ACME_ADMIN_TOKEN,
    });
    expect(res.status).toBe(200);
    const report = await res.json<ResealReport>();
    reports.push(report);
    after = report.next;
  } while (after !== null);
  return reports;
}

async function sealedSecret(subscriptionId: string): Promise<string> {
  const row = await env.ACME_DB.prepare("SELECT secret_enc AS sealed FROM webhook_subscriptions WHERE id = ?")
    .bind(subscriptionId)
    .first<{ sealed: string }>();
  return row?.sealed ?? "";
}

/** A signing secret as stored before ACME_SECRET_KEYS: v1, with the key the pepper derived. */
async function sealedTheOldWay(secret: string, subscriptionId: string): Promise<string> {
  const key = toBase64Url(await hmacSha256(env.ACME_CLIENT_SECRET_PEPPER, "acme webhook signing secrets v1"));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const aes = await crypto.subtle.importKey("raw", fromBase64Url(key), "AES-GCM", false, ["encrypt"]);
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(subscriptionId) },
    aes,
    new TextEncoder().encode(secret),
  );
  return `v1.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(data))}`;
}

// Other files in this worker share the database: leave every row sealed with the run's key again.
afterAll(async () => {
  await resealAll(NEW_AFTER, 50);
});

describe("ACME_SECRET_KEYS rotation", () => {
  it("signs every delivery while the ring rotates, re-seals everything (pepper-derived values too), then drops the old key", async () => {
    const { client, token } = await signedIn();
    const legacy = await subscribe(token);
    const current = await subscribe(token);
    await env.ACME_DB.prepare("UPDATE webhook_subscriptions SET secret_enc = ? WHERE id = ?")
      .bind(await sealedTheOldWay(legacy.secret, legacy.id), legacy.id)
      .run();
    const secrets = [legacy.secret, current.secret];

    for (const isolate of [ONLY_OLD, NEW_AFTER]) await deliverAndVerify(isolate, client.clientId, secrets);
    for (const isolate of [NEW_AFTER, NEW_FIRST]) await deliverAndVerify(isolate, client.clientId, secrets);

    // A write re-seals the row's secret with the current key.
    const patched = await call(NEW_FIRST, `/v1/webhooks/${current.id}`, {
      method: "PATCH",
      token,
      body: { description: "rotated" },
    });
    expect(patched.status).toBe(200);
    const [oldId, newId] = await Promise.all([secretKeyId(OLD), secretKeyId(NEW)]);
    expect((await sealedSecret(current.id)).startsWith(`v2.${newId}.`)).toBe(true);

    const [, reports] = await Promise.all([
      deliverAndVerify(NEW_FIRST, client.clientId, secrets),
      resealAll(NEW_FIRST),
    ]);
    expect(reports.at(-1)?.key_id).toBe(newId);
    const left = await env.ACME_DB.prepare(
      "SELECT count(*) AS n FROM webhook_subscriptions WHERE substr(secret_enc, 1, 12) = ? OR substr(secret_enc, 1, 3) = 'v1.'",
    )
      .bind(`v2.${oldId}.`)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
    expect((await sealedSecret(legacy.id)).startsWith(`v2.${newId}.`)).toBe(true);

    for (const isolate of [NEW_FIRST, ONLY_NEW]) await deliverAndVerify(isolate, client.clientId, secrets);
    expect(await loadAcmeConfig(ONLY_NEW).secretKeys.open(await sealedSecret(legacy.id), legacy.id)).toBe(
      legacy.secret,
    );
  });

  it("needs the admin token and a limit of 1 to 50", async () => {
    const { token } = await signedIn();
    await expectAcmeError(
      await call(NEW_FIRST, "/admin/secrets/reseal", { method: "POST", token }),
      401,
      "invalid_token",
    );
    await expectAcmeError(
      await call(NEW_FIRST, "/admin/secrets/reseal", { method: "POST" }),
      401,
      "unauthorized",
    );
    for (const limit of ["0", "51", "x"]) {
      await expectAcmeError(
        await call(NEW_FIRST, `/admin/secrets/reseal?limit=${limit}`, {
          method: "POST",
          token: env.ACME_ADMIN_TOKEN,
        }),
        400,
        "validation_failed",
      );
    }
  });

  it("refuses to start without ACME_SECRET_KEYS, or with a malformed one", () => {
    for (const value of [undefined, "", "short", `${NEW};${OLD}`]) {
      const copy: Record<string, unknown> = { ...env, ACME_SECRET_KEYS: value };
      if (value === undefined) delete copy.ACME_SECRET_KEYS;
      expect(() => loadAcmeConfig(copy as unknown as Env)).toThrow(
        /invalid Acme configuration: ACME_SECRET_KEYS/,
      );
    }
  });
});
