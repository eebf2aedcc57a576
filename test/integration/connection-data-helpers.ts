import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { drizzle } from "drizzle-orm/durable-sqlite";
import type { ConnectionData } from "../../src/integration/connection-data/connection-data.ts";
import { connectionData } from "../../src/integration/connection-data/stub.ts";
import { FeedStore } from "../../src/integration/feed/feed-store.ts";

/** The connection's `ConnectionData` object, as the Worker calls it. */
export function dataOf(connectionId: string) {
  return connectionData(env, connectionId);
}

/** Runs `fn` inside the connection's object, with its instance and state (its SQLite storage). */
export function inConnectionData<R>(
  connectionId: string,
  fn: (instance: ConnectionData, state: DurableObjectState) => R | Promise<R>,
): Promise<R> {
  const stub = env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(connectionId));
  return runInDurableObject(stub, fn as (instance: unknown, state: DurableObjectState) => R | Promise<R>);
}

/** Rows of a query run on the connection's own SQLite storage. */
export function sqlIn<T extends Record<string, SqlStorageValue>>(
  connectionId: string,
  query: string,
  ...bindings: unknown[]
): Promise<T[]> {
  return inConnectionData(connectionId, (_, state) =>
    state.storage.sql.exec<T>(query, ...bindings).toArray(),
  );
}

/** The connection's feed store, inside its object (for the set-based apply and pruning). */
export function withFeedStore<R>(connectionId: string, fn: (feed: FeedStore) => R): Promise<R> {
  return inConnectionData(connectionId, (_, state) =>
    fn(new FeedStore(state.storage, drizzle(state.storage, { logger: false }), connectionId)),
  );
}

/**
 * Makes the connection's reconciliation due now and runs its object's alarm, as when the alarm
 * fires on time; returns whether the alarm ran.
 */
export async function reconcileNow(connectionId: string): Promise<boolean> {
  await inConnectionData(connectionId, async (_, state) => {
    state.storage.sql.exec(
      "UPDATE meta SET value = json_set(value, '$.nextAt', 0) WHERE key = 'reconcile_schedule'",
    );
    // Far enough ahead that it cannot fire by itself first: runDurableObjectAlarm runs it now.
    await state.storage.setAlarm(Date.now() + 60_000);
  });
  return runDurableObjectAlarm(env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(connectionId)));
}
