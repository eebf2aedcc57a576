// Every call the jobs make to Acme goes through this file, so the rest of jobs/ does not depend
// on how the Acme client is built.
import { formatEtag } from "../../lib/etag.ts";
import { createAcmeClient } from "../acme-client/create-acme-client.ts";
import type { AcmeTransport } from "../acme-client/transport.ts";
import type { IntegrationConfig } from "../config.ts";
import type { AcmeContact } from "../contacts/acme-contact-schema.ts";
import { AcmeContacts, type AcmePage, type AcmeWriteBody } from "../contacts/acme-contacts.ts";
import { acmeFieldToApiWith, type CustomFieldMapping } from "../contacts/mapping.ts";
import type { ConnectionRow } from "../db/schema.ts";
import type { RequestStats } from "../request-stats.ts";

export type { AcmePage } from "../contacts/acme-contacts.ts";

/**
 * How long one job call may wait for a rate slot (and retry) inside a step, ms. Beyond that the
 * session refuses it with a Retry-After and the step ends, so the workflow sleeps durably instead
 * of holding an invocation open.
 */
export const JOB_CALL_WAIT_MS = 5000;
/** Contacts per page of Acme's list a sync reads. */
export const ACME_PAGE_SIZE = 100;

/** Acme as the jobs use it: at background priority, errors as the integration's ApiError. */
export interface JobAcme {
  /** The live contact with this email (Acme matches case-insensitively), or null. */
  findByEmail(email: string): Promise<AcmeContact | null>;
  create(body: AcmeWriteBody): Promise<AcmeContact>;
  /** PATCH with If-Match `version`: 412 if the contact changed since it was read. */
  update(id: string, version: number, body: AcmeWriteBody): Promise<AcmeContact>;
  /** A page of Acme's contact list, deleted ones included. */
  page(after: string | null, updatedSince: string | null): Promise<AcmePage>;
}

/**
 * The Acme calls of one job step for one connection; `stats` counts attempts and waits; Acme's
 * field errors name custom fields as `mapping` does.
 */
export function jobAcme(
  env: Env,
  config: IntegrationConfig,
  connection: ConnectionRow,
  inProcess: AcmeTransport,
  stats: RequestStats,
  mapping: readonly CustomFieldMapping[] = [],
): JobAcme {
  const client = createAcmeClient(env, config, connection, { inProcess, stats, priority: "background" });
  const contacts = new AcmeContacts(
    client,
    () => Date.now() + Math.min(JOB_CALL_WAIT_MS, config.backgroundDeadlineMs),
    (field) => acmeFieldToApiWith(field, mapping),
  );
  return {
    findByEmail: (email) => contacts.findByEmail(email),
    create: (body) => contacts.create(body),
    update: (id, version, body) => contacts.write(id, "PATCH", body, { "if-match": formatEtag(version) }),
    page: (after, updatedSince) =>
      contacts.list({ limit: ACME_PAGE_SIZE, after, updatedSince, includeDeleted: true }),
  };
}
