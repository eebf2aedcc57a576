import { env } from "cloudflare:test";
import { drizzle } from "drizzle-orm/d1";
import { connections } from "../../src/integration/db/schema.ts";
import { withIdTag } from "../../src/lib/id-tag.ts";
import { newId } from "../../src/lib/ids.ts";
import { admin } from "./helpers.ts";

/**
 * Inserts an OAuth connection's row (no client secret; `acmeAccountId` is the account its grant
 * acts on) as the connect flow does before it installs the grant, and returns its id (tagged).
 */
export async function insertOAuthConnection(
  options: { endUserId?: string | null; acmeAccountId?: string; name?: string } = {},
): Promise<string> {
  const id = await withIdTag(env.ID_TAG_KEY, newId("conn"));
  await drizzle(env.DB)
    .insert(connections)
    .values({
      id,
      name: options.name ?? "oauth test",
      acmeBaseUrl: null,
      acmeClientId: options.acmeAccountId ?? "cl_unknown",
      acmeClientSecretEnc: null,
      method: "oauth",
      endUserId: options.endUserId ?? null,
      status: "active",
      webhookSecretEnc: null,
      webhookSubscriptionId: null,
      reconciledThrough: null,
      scheduleCheckedAt: null,
      createdAt: new Date().toISOString(),
    });
  return id;
}

/** Issues an API key for a connection through the admin API. */
export async function issueApiKey(connectionId: string): Promise<string> {
  const res = await admin(`/connections/${connectionId}/api-keys`, { method: "POST" });
  if (res.status !== 201) throw new Error(`api key failed: ${res.status} ${await res.text()}`);
  return (await res.json<{ apiKey: string }>()).apiKey;
}
