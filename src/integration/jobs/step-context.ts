import { isAcmeUnavailable } from "../acme-client/acme-errors.ts";
import type { IntegrationConfig } from "../config.ts";
import type { JobRow, JobStatus } from "../connection-data/schema.ts";
import type { connectionData } from "../connection-data/stub.ts";
import type { CustomFieldMapping } from "../contacts/mapping.ts";
import type { ConnectionRow } from "../db/schema.ts";
import type { JobAcme } from "./acme-adapter.ts";

/** What one step tells the workflow: the job is over, or go on (after a durable sleep of `waitMs`). */
export type StepOutcome = { done: true; status: JobStatus } | { done: false; waitMs: number };

/** What a step of either kind works with: the job as loaded at the step's start, its connection, and Acme. */
export interface StepContext {
  env: Env;
  config: IntegrationConfig;
  /** How long a step's lease on the job lasts past its last commit, ms. */
  leaseMs: number;
  job: JobRow;
  connection: ConnectionRow;
  /** The connection's own data (its `ConnectionData` object), where the job lives. */
  data: ReturnType<typeof connectionData>;
  acme: JobAcme;
  /** The connection's custom-field mapping as the step began (an import's rows are checked and written by it). */
  mapping: readonly CustomFieldMapping[];
  /** The clock, ms since the epoch. */
  now: () => number;
}

/** The shortest durable sleep between steps, ms. */
const MIN_WAIT_MS = 50;

/**
 * How long to sleep (ms) before the next step after a problem that means "not now" (Acme's rate
 * limit, unavailability or timeout): the session's own figure when it has one, else Retry-After
 * in whole seconds (1 s without one). Null for any other error, which the step lets through.
 */
export function transientWaitMs(error: unknown): number | null {
  if (!isAcmeUnavailable(error)) return null;
  // The session's own figure when there is one (a rate slot, the tail of a window): whole
  // seconds would wake the job up to a second late and leave slots of a short window unused.
  if (error.options.retryAfterMs !== undefined) return Math.max(MIN_WAIT_MS, error.options.retryAfterMs);
  const seconds = Number(error.options.headers?.["Retry-After"] ?? "1");
  return Math.max(1, Number.isFinite(seconds) ? seconds : 1) * 1000;
}
