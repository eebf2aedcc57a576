import type { Context } from "hono";
import type { IntegrationConfig } from "../config.ts";
import type { IntegrationEnv, RequestStats } from "../context.ts";
import type { ConnectionRow } from "../db/schema.ts";
import type { Priority } from "../resilience/rate-budget.ts";
import { isolateShareFor } from "../session/isolate-share.ts";
import { SessionLink } from "../session/session-link.ts";
import { acmeSessionStub } from "../session/session-stub.ts";
import { AcmeClient } from "./acme-client.ts";
import type { AcmeTransport } from "./transport.ts";

/** The Acme client for one connection: its session, its transport, and the deadline of its kind of work. */
export function createAcmeClient(
  env: Env,
  config: IntegrationConfig,
  connection: ConnectionRow,
  options: {
    inProcess: AcmeTransport;
    stats: RequestStats;
    priority: Priority;
    requestId?: string;
    defer?: (work: Promise<unknown>) => void;
  },
): AcmeClient {
  return new AcmeClient({
    connection,
    session: new SessionLink(acmeSessionStub(env, connection.id), isolateShareFor(connection.id), {
      slotsAhead: config.sessionSlotsAhead,
    }),
    inProcess: options.inProcess,
    defaultBaseUrl: config.acmeBaseUrl,
    encryptionKey: config.encryptionKey,
    attemptTimeoutMs: config.acmeAttemptTimeoutMs,
    deadlineMs: options.priority === "interactive" ? config.requestDeadlineMs : config.backgroundDeadlineMs,
    priority: options.priority,
    stats: options.stats,
    ...(options.requestId ? { requestId: options.requestId } : {}),
    ...(options.defer ? { defer: options.defer } : {}),
  });
}

/** The Acme client for a connection within the current (interactive) request. */
export function acmeClientFor(
  c: Context<IntegrationEnv>,
  connection: ConnectionRow = c.var.connection,
): AcmeClient {
  return createAcmeClient(c.env, c.var.config, connection, {
    inProcess: c.var.acmeTransport,
    stats: c.var.stats,
    priority: "interactive",
    requestId: c.var.requestId,
    defer: c.var.defer,
  });
}
