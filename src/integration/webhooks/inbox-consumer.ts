import { drizzle } from "drizzle-orm/d1";
import { fullJitterDelay } from "../../lib/backoff.ts";
import { newId } from "../../lib/ids.ts";
import { errorFields, log } from "../../lib/logger.ts";
import { loadIntegrationConfig } from "../config.ts";
import { deadLetters } from "../db/schema.ts";
import { type ApplyOutcome, applyChange, isDuplicateWebhook } from "../feed/apply-change.ts";
import { AcmeWebhookSchema, changeFromWebhook, InboxMessageSchema } from "./acme-event.ts";

/** Seconds before a failed inbox message is tried again: full jitter, 1 s to 5 min. */
export function inboxRetryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  return Math.max(1, Math.ceil(fullJitterDelay(attempts, 1000, 300_000, random) / 1000));
}

export async function storeDeadLetter(
  env: Env,
  body: unknown,
  reason: string,
  ids: { connectionId?: string; webhookId?: string } = {},
): Promise<void> {
  await drizzle(env.DB)
    .insert(deadLetters)
    .values({
      id: newId("dl"),
      connectionId: ids.connectionId ?? null,
      webhookId: ids.webhookId ?? null,
      body: typeof body === "string" ? body : JSON.stringify(body),
      reason,
      receivedAt: new Date().toISOString(),
    });
}

/** What became of one inbox message: an {@link ApplyOutcome}, or where it went instead. */
export type InboxOutcome = ApplyOutcome | "dead_lettered" | "retried";

/**
 * Consumer of `integration-inbox`. Each message on its own: a duplicate is acked as a no-op, a
 * message that can never apply (poison) goes straight to the dead letters, anything else that
 * fails is retried with backoff and reaches the dead-letter queue when retries run out. Logs one
 * line per batch, "inbox batch handled", counting each {@link InboxOutcome} (`stale`: changes
 * older than the contact's newest version, deduplicated into nothing).
 */
export async function handleInboxBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const config = loadIntegrationConfig(env);
  // Messages are independent: D1 serializes the batches, and versions decide what wins.
  const outcomes = await Promise.all(
    batch.messages.map((message) => handleInboxMessage(message, env, config.cacheTtlSeconds)),
  );
  const counts: Record<InboxOutcome, number> = {
    appended: 0,
    duplicate: 0,
    stale: 0,
    dead_lettered: 0,
    retried: 0,
  };
  for (const outcome of outcomes) counts[outcome] += 1;
  log("info", "inbox batch handled", { messages: outcomes.length, ...counts });
}

async function handleInboxMessage(
  message: Message<unknown>,
  env: Env,
  cacheTtlSeconds: number,
): Promise<InboxOutcome> {
  const envelope = InboxMessageSchema.safeParse(message.body);
  if (!envelope.success) {
    await storeDeadLetter(env, message.body, "unreadable inbox message");
    message.ack();
    return "dead_lettered";
  }
  const ids = { connectionId: envelope.data.connectionId, webhookId: envelope.data.webhookId };
  let event: ReturnType<typeof AcmeWebhookSchema.safeParse>;
  try {
    event = AcmeWebhookSchema.safeParse(JSON.parse(envelope.data.body));
  } catch {
    event = AcmeWebhookSchema.safeParse(undefined);
  }
  if (!event.success) {
    await storeDeadLetter(
      env,
      envelope.data,
      `invalid event: ${event.error.issues[0]?.message ?? "not JSON"}`,
      ids,
    );
    message.ack();
    return "dead_lettered";
  }
  try {
    const outcome = await applyChange(env, changeFromWebhook(envelope.data, event.data), {
      webhookId: envelope.data.webhookId,
      cacheTtlSeconds,
    });
    message.ack();
    return outcome;
  } catch (error) {
    if (isDuplicateWebhook(error)) {
      message.ack();
      return "duplicate";
    }
    log("warn", "inbox message failed; retrying", {
      ...ids,
      attempts: message.attempts,
      ...errorFields(error),
    });
    message.retry({ delaySeconds: inboxRetryDelaySeconds(message.attempts) });
    return "retried";
  }
}

/** Consumer of `integration-inbox-dlq`: exhausted messages are kept in D1 for inspection and replay. */
export async function handleInboxDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const envelope = InboxMessageSchema.safeParse(message.body);
    await storeDeadLetter(
      env,
      envelope.success ? envelope.data : message.body,
      `retries exhausted after ${message.attempts} attempts`,
      envelope.success
        ? { connectionId: envelope.data.connectionId, webhookId: envelope.data.webhookId }
        : {},
    );
    message.ack();
  }
}
