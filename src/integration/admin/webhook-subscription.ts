import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { log } from "../../lib/logger.ts";
import type { SecretKeyRing } from "../../lib/secret-box.ts";
import { decodeWebhookSecret } from "../../lib/webhook-secret.ts";
import type { AcmeClient } from "../acme-client/acme-client.ts";
import { expectAcmeStatus } from "../acme-client/acme-errors.ts";
import { findConnection } from "../connections/connection-store.ts";
import { type ConnectionRow, connections } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { CHANGE_TYPES } from "../feed/change-types.ts";
import { forgetWebhookSecret } from "../webhooks/webhook-secret-cache.ts";

/** The subscription a connection now has at Acme, and the ones removed to get there. */
export interface SubscriptionOutcome {
  subscriptionId: string;
  url: string;
  events: string[];
  /** Ids of older subscriptions of this connection deleted at Acme. */
  removed: string[];
}

/**
 * Stores a connection's webhook secret (sealed with the current key) and which Acme subscription
 * it belongs to (null: one made by hand), re-seals the row's client secret in the same write when
 * an older key sealed it, and drops this isolate's cached copy of the old secret.
 */
export async function storeWebhookSecret(
  db: D1Database,
  secretKeys: SecretKeyRing,
  connection: ConnectionRow,
  secret: string,
  subscriptionId: string | null,
): Promise<void> {
  const sealed = await secretKeys.seal(secret, `${connection.id}:webhook`);
  const clientSecret =
    connection.acmeClientSecretEnc &&
    (await secretKeys.reseal(connection.acmeClientSecretEnc, connection.id));
  await drizzle(db)
    .update(connections)
    .set({
      webhookSecretEnc: sealed,
      webhookSubscriptionId: subscriptionId,
      ...(clientSecret ? { acmeClientSecretEnc: clientSecret } : {}),
    })
    .where(eq(connections.id, connection.id));
  forgetWebhookSecret(connection.id);
}

/**
 * Gives the connection exactly one webhook subscription at Acme, pointing at `url`: creates a new
 * one (Acme shows a secret only once, so an old one cannot be reused), keeps its secret, then
 * deletes every other subscription of the account at `url` (known to us or not: made earlier, or
 * one whose creation answer was lost) and the one previously recorded for the connection.
 * Creating before deleting leaves no moment without a subscription. Two calls at once converge:
 * each keeps whichever subscription the connection records after its own write.
 *
 * Throws ApiError `acme_bad_response` (502) when Acme's answer lacks an id or a valid whsec_
 * secret, and Acme's own problems (auth, unavailable...) as acmeProblem renders them; after a
 * failure to delete, a new call finishes the cleanup.
 */
export async function replaceWebhookSubscription(
  db: D1Database,
  secretKeys: SecretKeyRing,
  acme: AcmeClient,
  connection: ConnectionRow,
  url: string,
): Promise<SubscriptionOutcome> {
  const events = [...CHANGE_TYPES];
  const created = await acme.send({
    method: "POST",
    path: "/v1/webhooks",
    body: { url, events, description: `acme-bridge connection ${connection.id}` },
  });
  const body = expectAcmeStatus(created, [201]).body as { id?: unknown; secret?: unknown } | null;
  if (typeof body?.id !== "string" || typeof body.secret !== "string") {
    throw new ApiError("acme_bad_response", "Acme's subscription response lacks an id or secret.");
  }
  // A weak or undecodable secret from Acme would make every later webhook fail (or be forgeable).
  if ("problem" in decodeWebhookSecret(body.secret)) {
    throw new ApiError("acme_bad_response", "Acme returned a webhook secret that is not a valid whsec_ key.");
  }
  await storeWebhookSecret(db, secretKeys, connection, body.secret, body.id);

  const kept = (await findConnection(db, connection.id))?.webhookSubscriptionId ?? body.id;
  const stale = (await listSubscriptions(acme))
    .filter((s) => s.id !== kept && (s.url === url || s.id === connection.webhookSubscriptionId))
    .map((s) => s.id);
  for (const id of stale) {
    const deleted = await acme.send({ method: "DELETE", path: `/v1/webhooks/${encodeURIComponent(id)}` });
    // 404: someone else deleted it first, which is what we wanted.
    expectAcmeStatus(deleted, [204, 404]);
  }
  if (stale.length > 0) {
    log("info", "webhook subscriptions replaced", { connectionId: connection.id, kept, removed: stale });
  }
  return { subscriptionId: kept, url, events, removed: stale };
}

/** The account's subscriptions at Acme, each with its id and URL (entries without them skipped). */
async function listSubscriptions(acme: AcmeClient): Promise<{ id: string; url: string }[]> {
  const listed = expectAcmeStatus(await acme.send({ method: "GET", path: "/v1/webhooks" }), [200]);
  const results = (listed.body as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) {
    throw new ApiError("acme_bad_response", "Acme's subscription list lacks results.");
  }
  return results.flatMap((s: { id?: unknown; url?: unknown }) =>
    typeof s?.id === "string" && typeof s.url === "string" ? [{ id: s.id, url: s.url }] : [],
  );
}
