import type { IntegrationConfig } from "../config.ts";

import type { ConnectionRow } from "../db/schema.ts";
import type { RequestStats } from "../request-stats.ts";
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
    secretKeys: config.secretKeys,
    oauthApp: config.oauthApp,
    attemptTimeoutMs: config.acmeAttemptTimeoutMs,
    deadlineMs: options.priority === "interactive" ? config.requestDeadlineMs : config.backgroundDeadlineMs,
    priority: options.priority,
    stats: options.stats,
    ...(options.requestId ? { requestId: options.requestId } : {}),
    ...(options.defer ? { defer: options.defer } : {}),
  });
}
