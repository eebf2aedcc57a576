import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { expect } from "vitest";
import type { InboxMessage } from "../../src/integration/webhooks/acme-event.ts";
import { handleInboxBatch } from "../../src/integration/webhooks/inbox-consumer.ts";
import { api } from "./helpers.ts";

/** An Acme contact at `version`, named after it and updated one second per version after 2026-01-01. */
export function acmeContact(id: string, version: number, overrides: Record<string, unknown> = {}) {
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, version)).toISOString();
  return {
    id,
    acme_first_name: `First v${version}`,
    acme_last_name: "Last",
    acme_email: `${id}@example.com`,
    acme_phone: null,
    acme_company: null,
    acme_title: null,
    acme_notes: null,
    acme_version: version,
    acme_created_at: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    acme_updated_at: at,
    acme_deleted_at: null,
    ...overrides,
  };
}

/** An Acme webhook body as Acme sends it. */
export function eventBody(
  type: string,
  data: Record<string, unknown>,
  previous?: Record<string, unknown>,
): string {
  return JSON.stringify({
    type,
    timestamp: new Date().toISOString(),
    data,
    ...(previous ? { previous } : {}),
  });
}

/** Runs the real inbox consumer over one batch and returns what it acked and retried. */
export async function consume(
  messages: { body: unknown; attempts?: number; id?: string }[],
  targetEnv: Env = env,
) {
  const batch = createMessageBatch<unknown>(
    "integration-inbox",
    messages.map((m, i) => ({
      id: m.id ?? `msg-${i}-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: m.attempts ?? 1,
      body: m.body,
    })),
  );
  const ctx = createExecutionContext();
  await handleInboxBatch(batch, targetEnv);
  return getQueueResult(batch, ctx);
}

/** What the receiver puts on the inbox queue for a verified webhook. */
export function inboxMessage(connectionId: string, webhookId: string, body: string): InboxMessage {
  return { connectionId, webhookId, body, receivedAt: new Date().toISOString() };
}

export interface FeedEvent {
  seq: number;
  id: string;
  type: string;
  contact: { id: string; version: number; firstName: string };
  changes: Record<string, { from: unknown; to: unknown }>;
  source: string;
}

/** One page of the connection's change feed. */
export async function feed(apiKey: string, after = 0, limit = 500) {
  const res = await api(`/api/v1/events?after=${after}&limit=${limit}`, { key: apiKey });
  expect(res.status).toBe(200);
  return res.json<{ data: FeedEvent[]; nextAfter: number }>();
}

/** The whole change feed of the connection, page after page. */
export async function wholeFeed(apiKey: string): Promise<FeedEvent[]> {
  const all: FeedEvent[] = [];
  for (let after = 0; ; ) {
    const page = await feed(apiKey, after, 500);
    if (page.data.length === 0) return all;
    all.push(...page.data);
    after = page.nextAfter;
  }
}

/** A seeded pseudo-random source in [0, 1): the same sequence every run (an LCG). */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/**
 * Asserts the feed's ordering rule over `events` (the whole feed): `seq` without gaps, each
 * of `contacts` contacts present, its versions each once and rising, ending at `newest`.
 */
export function expectFeedOrder(events: FeedEvent[], contacts: number, newest: number): void {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  const byContact = new Map<string, number[]>();
  for (const e of events)
    byContact.set(e.contact.id, [...(byContact.get(e.contact.id) ?? []), e.contact.version]);
  expect(byContact.size).toBe(contacts);
  for (const seen of byContact.values()) {
    expect(seen).toEqual([...new Set(seen)].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe(newest);
  }
}
