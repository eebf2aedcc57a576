import { drizzle } from "drizzle-orm/d1";
import { fullJitterDelay } from "../../lib/backoff.ts";
import { mapWithLimit } from "../../lib/concurrency-limit.ts";
import { chunkForStatement } from "../../lib/d1-limits.ts";
import { newId } from "../../lib/ids.ts";
import { errorFields, log } from "../../lib/logger.ts";
import { WORKER_MAX_OPEN_CONNECTIONS } from "../../lib/worker-limits.ts";
import { loadIntegrationConfig } from "../config.ts";
import type { WebhookApplyResult } from "../connection-data/connection-data.ts";
import { connectionData } from "../connection-data/stub.ts";
import { deadLetters } from "../db/schema.ts";
import type { ApplyOutcome, IncomingChange } from "../feed/feed-store.ts";
import { invalidateCopies } from "../feed/invalidate-copies.ts";
import { AcmeWebhookSchema, changeFromWebhook, InboxMessageSchema } from "./acme-event.ts";

/** Seconds before a failed inbox message is tried again: full jitter, 1 s to 5 min. */
export function inboxRetryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  return Math.max(1, Math.ceil(fullJitterDelay(attempts, 1000, 300_000, random) / 1000));
}

/** An inbox message that cannot be applied, as stored for inspection and replay. */
export interface DeadLetter {
  body: unknown;
  reason: string;
  connectionId?: string | undefined;
  webhookId?: string | undefined;
}

/** Stores dead letters in D1, in as few statements as its parameter limit allows. Throws what D1 throws. */
export async function storeDeadLetters(env: Env, letters: DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const receivedAt = new Date().toISOString();
  const rows = letters.map((letter) => ({
    id: newId("dl"),
    connectionId: letter.connectionId ?? null,
    webhookId: letter.webhookId ?? null,
    body: typeof letter.body === "string" ? letter.body : JSON.stringify(letter.body),
    reason: letter.reason,
    receivedAt,
  }));
  const db = drizzle(env.DB);
  const [first, ...rest] = chunkForStatement(rows, { perItem: 7 }).map((chunk) =>
    db.insert(deadLetters).values(chunk),
  );
  if (first) await db.batch([first, ...rest]);
}

/** Stores one dead letter (see `storeDeadLetters`). */
export async function storeDeadLetter(
  env: Env,
  body: unknown,
  reason: string,
  ids: { connectionId?: string; webhookId?: string } = {},
): Promise<void> {
  await storeDeadLetters(env, [{ body, reason, ...ids }]);
}

/** What became of one inbox message: an {@link ApplyOutcome}, or where it went instead. */
export type InboxOutcome = ApplyOutcome | "dead_lettered" | "retried";

/** A message read and checked: the change it carries, or why it can never apply. */
type Checked =
  | { message: Message<unknown>; connectionId: string; change: IncomingChange }
  | { message: Message<unknown>; dead: DeadLetter };

function check(message: Message<unknown>): Checked {
  const envelope = InboxMessageSchema.safeParse(message.body);
  if (!envelope.success) return { message, dead: { body: message.body, reason: "unreadable inbox message" } };
  const ids = { connectionId: envelope.data.connectionId, webhookId: envelope.data.webhookId };
  let event: ReturnType<typeof AcmeWebhookSchema.safeParse>;
  try {
    event = AcmeWebhookSchema.safeParse(JSON.parse(envelope.data.body));
  } catch {
    event = AcmeWebhookSchema.safeParse(undefined);
  }
  if (!event.success) {
    const reason = `invalid event: ${event.error.issues[0]?.message ?? "not JSON"}`;
    return { message, dead: { body: envelope.data, reason, ...ids } };
  }
  return { message, connectionId: ids.connectionId, change: changeFromWebhook(envelope.data, event.data) };
}

function retry(message: Message<unknown>, fields: Record<string, unknown>, error: unknown): InboxOutcome {
  log("warn", "inbox message failed; retrying", {
    ...fields,
    attempts: message.attempts,
    ...errorFields(error),
  });
  message.retry({ delaySeconds: inboxRetryDelaySeconds(message.attempts) });
  return "retried";
}

/**
 * Consumer of `integration-inbox`. Messages are grouped by connection, and each connection's
 * changes go to its `ConnectionData` object in one call (applied there in order, each in its own
 * transaction, deduplicated by webhook id), at most WORKER_MAX_OPEN_CONNECTIONS connections at once; then
 * the cached copies of the changed contacts that may be cached are dropped. A duplicate is acked
 * as a no-op, a message that can never apply (poison) goes straight to the dead letters (one D1
 * batch for the whole), anything else that fails is retried with backoff and reaches the
 * dead-letter queue when retries run out. A batch of 100 messages over 100 connections costs at
 * most 100 object calls, 200 KV operations and a few D1 statements. Logs one line per batch,
 * "inbox batch handled", counting each {@link InboxOutcome} (`stale`: changes older than the
 * contact's newest version, deduplicated into nothing).
 */
export async function handleInboxBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const config = loadIntegrationConfig(env);
  const checked = batch.messages.map(check);
  const outcomes: InboxOutcome[] = [];
  const dead = checked.flatMap((c) => ("dead" in c ? [c] : []));
  if (dead.length > 0) {
    try {
      await storeDeadLetters(
        env,
        dead.map((d) => d.dead),
      );
      for (const d of dead) {
        d.message.ack();
        outcomes.push("dead_lettered");
      }
    } catch (error) {
      for (const d of dead) outcomes.push(retry(d.message, { reason: d.dead.reason }, error));
    }
  }
  const byConnection = new Map<string, Array<Extract<Checked, { change: IncomingChange }>>>();
  for (const c of checked) {
    if ("dead" in c) continue;
    const group = byConnection.get(c.connectionId) ?? [];
    group.push(c);
    byConnection.set(c.connectionId, group);
  }
  await mapWithLimit([...byConnection], WORKER_MAX_OPEN_CONNECTIONS, async ([connectionId, group]) => {
    let result: WebhookApplyResult;
    try {
      result = await connectionData(env, connectionId).applyWebhookChanges(
        connectionId,
        group.map((g) => g.change),
      );
    } catch (error) {
      for (const g of group) {
        outcomes.push(retry(g.message, { connectionId, webhookId: g.change.eventId }, error));
      }
      return;
    }
    group.forEach((g, i) => {
      const outcome = result.outcomes[i];
      if (outcome === undefined || typeof outcome === "object") {
        outcomes.push(retry(g.message, { connectionId, webhookId: g.change.eventId }, outcome?.error));
        return;
      }
      g.message.ack();
      outcomes.push(outcome);
    });
    await invalidateCopies(env, connectionId, config.cacheTtlSeconds, result.invalidate);
  });
  const counts: Record<InboxOutcome, number> = {
    appended: 0,
    duplicate: 0,
    stale: 0,
    dead_lettered: 0,
    retried: 0,
  };
  for (const outcome of outcomes) counts[outcome] += 1;
  log("info", "inbox batch handled", {
    messages: outcomes.length,
    connections: byConnection.size,
    ...counts,
  });
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
