import type { Context } from "hono";
import type { IntegrationEnv } from "../context.ts";
import type { ConnectionRow } from "../db/schema.ts";
import { AcmeClient } from "./acme-client.ts";

/** The Acme client for a connection, within the current request (its transport, stats, config). */
export function acmeClientFor(
  c: Context<IntegrationEnv>,
  connection: ConnectionRow = c.var.connection,
): AcmeClient {
  const { config, stats } = c.var;
  return new AcmeClient({
    connection,
    session: c.env.ACME_SESSION.get(c.env.ACME_SESSION.idFromName(connection.id)),
    inProcess: c.var.acmeTransport,
    defaultBaseUrl: config.acmeBaseUrl,
    encryptionKey: config.encryptionKey,
    attemptTimeoutMs: config.acmeAttemptTimeoutMs,
    stats,
  });
}
