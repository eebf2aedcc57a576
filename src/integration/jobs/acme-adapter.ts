// Every call the jobs make to Acme goes through this file, so the rest of jobs/ does not depend
// on how the Acme client is built.
import type { Verify } from "../acme-client/acme-client.ts";
import { acmeProblem } from "../acme-client/acme-errors.ts";
import { createAcmeClient } from "../acme-client/create-acme-client.ts";
import type { AcmeResponse, AcmeTransport } from "../acme-client/transport.ts";
import type { IntegrationConfig } from "../config.ts";
import {
  type AcmeContact,
  AcmeContactPageSchema,
  AcmeContactSchema,
  parseAcme,
} from "../contacts/acme-contact-schema.ts";
import { acmeFieldToApi } from "../contacts/mapping.ts";
import type { RequestStats } from "../context.ts";
import type { ConnectionRow } from "../db/schema.ts";

/**
 * How long one job call may wait for a rate slot (and retry) inside a step, ms. Beyond that the
 * session refuses it with a Retry-After and the step ends, so the workflow sleeps durably instead
 * of holding an invocation open.
 */
export const JOB_CALL_WAIT_MS = 5000;
const PAGE_SIZE = 100;

/** One page of Acme's contact list, deleted ones included. */
export interface AcmePage {
  results: AcmeContact[];
  /** Cursor of the next page; null on the last. */
  next: string | null;
}

/** Acme as the jobs use it: at background priority, errors as the integration's ApiError. */
export interface JobAcme {
  /** The live contact with this email (Acme matches case-insensitively), or null. */
  findByEmail(email: string): Promise<AcmeContact | null>;
  create(body: Record<string, string | null>): Promise<AcmeContact>;
  /** PATCH with If-Match `version`: 412 if the contact changed since it was read. */
  update(id: string, version: number, body: Record<string, string | null>): Promise<AcmeContact>;
  page(after: string | null, updatedSince: string | null): Promise<AcmePage>;
}

function expect(response: AcmeResponse, status: number): AcmeResponse {
  if (response.status === status) return response;
  throw acmeProblem(response.status, response.body, response.headers, acmeFieldToApi);
}

function synthesized(status: number, body: unknown): AcmeResponse {
  return { status, headers: new Headers(), body };
}

/** The Acme calls of one job step for one connection; `stats` counts attempts and waits. */
export function jobAcme(
  env: Env,
  config: IntegrationConfig,
  connection: ConnectionRow,
  inProcess: AcmeTransport,
  stats: RequestStats,
): JobAcme {
  const client = createAcmeClient(env, config, connection, { inProcess, stats, priority: "background" });
  const deadline = () => Date.now() + Math.min(JOB_CALL_WAIT_MS, config.backgroundDeadlineMs);

  async function findByEmail(email: string, until = deadline()): Promise<AcmeContact | null> {
    const response = await client.send(
      { method: "GET", path: "/v1/contacts", query: { email, limit: "1" } },
      { deadline: until },
    );
    return parseAcme(AcmeContactPageSchema, expect(response, 200).body).results[0] ?? null;
  }

  return {
    findByEmail: (email) => findByEmail(email),

    async create(body) {
      // A create whose effect is unknown may have landed: look the email up before trying again.
      const verify: Verify = async (context) => {
        const found = await findByEmail(String(body.acme_email), context.deadline);
        return found
          ? { applied: synthesized(201, found) }
          : { retry: { method: "POST", path: "/v1/contacts", body } };
      };
      const response = await client.send(
        { method: "POST", path: "/v1/contacts", body },
        { deadline: deadline(), verify },
      );
      return parseAcme(AcmeContactSchema, expect(response, 201).body);
    },

    async update(id, version, body) {
      const request = {
        method: "PATCH" as const,
        path: `/v1/contacts/${id}`,
        body,
        headers: { "if-match": `"${version}"` },
      };
      // After an ambiguous failure: the contact either shows the change (done) or is still at
      // `version` (the same conditional PATCH again); anything else answers 412 on the retry.
      const verify: Verify = async (context) => {
        const current = await client.send(
          { method: "GET", path: `/v1/contacts/${id}` },
          { deadline: context.deadline },
        );
        if (current.status !== 200) return { applied: current };
        const contact = parseAcme(AcmeContactSchema, current.body);
        const reflects = Object.entries(body).every(
          ([field, value]) => (contact as Record<string, unknown>)[field] === value,
        );
        return reflects ? { applied: synthesized(200, contact) } : { retry: request };
      };
      const response = await client.send(request, { deadline: deadline(), verify });
      return parseAcme(AcmeContactSchema, expect(response, 200).body);
    },

    async page(after, updatedSince) {
      const response = await client.send(
        {
          method: "GET",
          path: "/v1/contacts",
          query: {
            limit: String(PAGE_SIZE),
            include_deleted: "true",
            ...(after ? { after } : {}),
            ...(updatedSince ? { updated_since: updatedSince } : {}),
          },
        },
        { deadline: deadline() },
      );
      const page = parseAcme(AcmeContactPageSchema, expect(response, 200).body);
      return { results: page.results, next: page.paging?.next.after ?? null };
    },
  };
}
