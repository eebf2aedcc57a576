import { and, desc, eq, inArray, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { chunkForStatement } from "../../lib/d1-limits.ts";
import { newId } from "../../lib/ids.ts";
import { newWebhookSecret } from "../../lib/webhook-secret.ts";
import type { AcmeConfig } from "../config.ts";
import {
  type WebhookEventType,
  type WebhookSubscriptionRow,
  webhookAttempts,
  webhookDeliveries,
  webhookSubscriptions,
} from "../db/schema.ts";
import { AcmeError } from "../errors.ts";

/**
 * The subscription's signing secret, opened with the ring of ACME_SECRET_KEYS. Throws
 * SealedSecretError when no key of the ring opens it.
 */
export async function signingSecret(config: AcmeConfig, row: WebhookSubscriptionRow): Promise<string> {
  return config.secretKeys.open(row.secretEnc, row.id);
}

export function publicSubscription(row: WebhookSubscriptionRow) {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEventType[],
    description: row.description,
    enabled: row.enabled,
    disabled_reason: row.disabledReason,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

/** Webhook subscriptions of one account; other accounts' subscriptions are 404s. */
export class SubscriptionRepository {
  private readonly db;

  constructor(
    d1: D1Database,
    private readonly accountId: string,
    private readonly config: AcmeConfig,
  ) {
    this.db = drizzle(d1);
  }

  async create(input: { url: string; events: WebhookEventType[]; description?: string | null | undefined }) {
    const now = new Date().toISOString();
    const id = newId("wh");
    const secret = newWebhookSecret();
    const row: WebhookSubscriptionRow = {
      id,
      accountId: this.accountId,
      url: input.url,
      events: JSON.stringify([...new Set(input.events)]),
      description: input.description ?? null,
      secretEnc: await this.config.secretKeys.seal(secret, id),
      enabled: true,
      disabledReason: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.db.insert(webhookSubscriptions).values(row);
    return { row, secret };
  }

  list() {
    return this.db
      .select()
      .from(webhookSubscriptions)
      .where(eq(webhookSubscriptions.accountId, this.accountId))
      .orderBy(webhookSubscriptions.id);
  }

  async get(id: string): Promise<WebhookSubscriptionRow> {
    const row = await this.db
      .select()
      .from(webhookSubscriptions)
      .where(and(eq(webhookSubscriptions.id, id), eq(webhookSubscriptions.accountId, this.accountId)))
      .get();
    if (!row) throw new AcmeError("not_found", `Webhook subscription ${id} was not found.`);
    return row;
  }

  async update(
    id: string,
    patch: {
      url?: string | undefined;
      events?: WebhookEventType[] | undefined;
      description?: string | null | undefined;
      enabled?: boolean | undefined;
    },
  ): Promise<WebhookSubscriptionRow> {
    const current = await this.get(id);
    const set: Partial<WebhookSubscriptionRow> = { updatedAt: new Date().toISOString() };
    // A secret sealed with an older key is brought to the current one whenever its row is written.
    const resealed = await this.config.secretKeys.reseal(current.secretEnc, id);
    if (resealed) set.secretEnc = resealed;
    if (patch.url !== undefined) set.url = patch.url;
    if (patch.events !== undefined) set.events = JSON.stringify([...new Set(patch.events)]);
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.enabled !== undefined) {
      set.enabled = patch.enabled;
      set.disabledReason = patch.enabled ? null : "disabled by the account";
    }
    const row = await this.db
      .update(webhookSubscriptions)
      .set(set)
      .where(and(eq(webhookSubscriptions.id, id), eq(webhookSubscriptions.accountId, this.accountId)))
      .returning()
      .get();
    if (!row) throw new AcmeError("not_found", `Webhook subscription ${id} was not found.`);
    return row;
  }

  async remove(id: string): Promise<void> {
    await this.get(id);
    await this.db
      .delete(webhookSubscriptions)
      .where(and(eq(webhookSubscriptions.id, id), eq(webhookSubscriptions.accountId, this.accountId)));
  }

  /** The delivery log, newest first, with every attempt of each delivery. */
  async deliveries(subscriptionId: string, limit: number, before?: string) {
    await this.get(subscriptionId);
    const rows = await this.db
      .select()
      .from(webhookDeliveries)
      .where(
        and(
          eq(webhookDeliveries.subscriptionId, subscriptionId),
          before ? lt(webhookDeliveries.id, before) : undefined,
        ),
      )
      .orderBy(desc(webhookDeliveries.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    const attempts = [];
    for (const ids of chunkForStatement(
      page.map((d) => d.id),
      { perItem: 1 },
    )) {
      attempts.push(
        ...(await this.db
          .select()
          .from(webhookAttempts)
          .where(inArray(webhookAttempts.deliveryId, ids))
          .orderBy(webhookAttempts.deliveryId, webhookAttempts.attempt)),
      );
    }
    return { page, attempts, more: rows.length > limit };
  }

  async markPending(deliveryId: string): Promise<void> {
    await this.db
      .update(webhookDeliveries)
      .set({ status: "pending", nextAttemptAt: null, updatedAt: new Date().toISOString() })
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.accountId, this.accountId)));
  }

  async delivery(subscriptionId: string, deliveryId: string) {
    await this.get(subscriptionId);
    const row = await this.db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.subscriptionId, subscriptionId)))
      .get();
    if (!row) throw new AcmeError("not_found", `Delivery ${deliveryId} was not found.`);
    return row;
  }
}
