import type { ConnectionData } from "./connection-data.ts";

/**
 * The object's RPC methods as a caller sees them: each returns a promise of what the method
 * returns. (Workers' own stub type maps results through its serializable-type check, which loses
 * values typed `unknown` such as a change's `from` and `to`; the values themselves travel intact.)
 */
export type ConnectionDataStub = {
  [K in Exclude<keyof ConnectionData, "alarm" | "fetch">]: ConnectionData[K] extends (
    ...args: infer A
  ) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/**
 * The connection's `ConnectionData` Durable Object (one per connection id), as a stub for the
 * current request or invocation; a stub cannot be kept across requests. Each call on it is one
 * subrequest.
 */
export function connectionData(env: Env, connectionId: string): ConnectionDataStub {
  return env.CONNECTION_DATA.get(
    env.CONNECTION_DATA.idFromName(connectionId),
  ) as unknown as ConnectionDataStub;
}
