import { formatEtag } from "../../lib/etag.ts";
import type { AcmeClient, AcmeRequest, Verify } from "../acme-client/acme-client.ts";
import { expectAcmeStatus } from "../acme-client/acme-errors.ts";
import type { AcmeResponse } from "../acme-client/transport.ts";
import { ApiError } from "../errors.ts";
import {
  type AcmeContact,
  AcmeContactPageSchema,
  AcmeContactSchema,
  parseAcme,
} from "./acme-contact-schema.ts";
import { acmeFieldToApi, type CustomValue } from "./mapping.ts";

// Every call to Acme's contact endpoints, for the interactive contact service and the jobs alike:
// what makes a retry safe (look before writing again) is written once, so it cannot drift apart.

/**
 * The caller's `If-Match` / `If-None-Match`, already checked well-formed (RFC 9110 13.1), as they
 * go to Acme: Acme compares them with the contact's version and answers 412 when one fails.
 */
export type WriteConditions = { "if-match"?: string; "if-none-match"?: string };

/** A write's `acme_custom`: values by Acme property name, null clearing one. */
export type AcmeCustomWrite = Record<string, CustomValue | null>;

/** A write's body in Acme's names: the table's fields, and `acme_custom` when the write sets custom values. */
export type AcmeWriteBody = Record<string, string | null | AcmeCustomWrite>;

/** One page of Acme's contact list. */
export interface AcmePage {
  results: AcmeContact[];
  /** Cursor of the next page; null on the last. */
  next: string | null;
}

/** What a page of Acme's contact list asks for; empty or absent values are not sent. */
export interface AcmePageQuery {
  limit: number;
  /** Cursor of the page to read (Acme's `after`). */
  after?: string | null;
  email?: string;
  /** Only contacts changed at or after this time (ISO 8601). */
  updatedSince?: string | null;
  /** Soft-deleted contacts too, with their `acme_deleted_at`. */
  includeDeleted?: boolean;
}

/** Acme's list parameters by the names the API gives them, for field errors about them. */
const LIST_PARAMS: Record<string, string> = {
  after: "cursor",
  updated_since: "updatedSince",
  limit: "limit",
};

/**
 * `response` if its status is one of `ok`; otherwise the caller's problem: 400 invalid_cursor
 * for a cursor Acme does not know, else acmeProblem with field names as the API names them
 * (`renameField` for a contact's fields).
 */
function expectContactStatus(
  response: AcmeResponse,
  ok: number[],
  renameField: (field: string) => string,
): AcmeResponse {
  const code = (response.body as { error?: { code?: string } } | null)?.error?.code;
  if (response.status === 400 && code === "invalid_cursor" && !ok.includes(400)) {
    throw new ApiError("invalid_cursor", "The cursor is not valid; start again without it.", {
      errors: [{ field: "cursor", message: "not a cursor issued by this API" }],
    });
  }
  return expectAcmeStatus(response, ok, (field) => LIST_PARAMS[field] ?? renameField(field));
}

/** True when every field the write set already has that value at Acme (each custom value it set too). */
function reflects(contact: AcmeContact, fields: AcmeWriteBody): boolean {
  return Object.entries(fields).every(([field, value]) => {
    if (field !== "acme_custom" || value === null || typeof value !== "object") {
      return (contact as Record<string, unknown>)[field] === value;
    }
    const held = contact.acme_custom ?? {};
    return Object.entries(value).every(([name, v]) => (Object.hasOwn(held, name) ? held[name] : null) === v);
  });
}

function synthesized(status: number, body: unknown): AcmeResponse {
  return { status, headers: new Headers(), body };
}

/**
 * Acme's contact endpoints for one connection, answers checked against Acme's contract (502
 * acme_bad_response otherwise) and non-OK answers thrown as the caller's ApiError. A write is
 * retried after an ambiguous failure only once Acme has been asked whether it happened, so a
 * retry never creates a second contact or overwrites someone else's change.
 */
export class AcmeContacts {
  constructor(
    private readonly client: AcmeClient,
    /** The absolute deadline (epoch ms) of a new call; undefined leaves the client's own. */
    private readonly deadline: () => number | undefined = () => undefined,
    /**
     * Acme's field names in its error details as the API names them (the connection's custom
     * fields among them: see `acmeFieldToApiWith`).
     */
    private readonly renameField: (field: string) => string = acmeFieldToApi,
  ) {}

  /** One page of the list, oldest first; throws 400 invalid_cursor for a cursor Acme refuses. */
  async list(query: AcmePageQuery): Promise<AcmePage> {
    const response = await this.client.send(
      {
        method: "GET",
        path: "/v1/contacts",
        query: {
          limit: String(query.limit),
          after: query.after || undefined,
          email: query.email,
          updated_since: query.updatedSince || undefined,
          include_deleted: query.includeDeleted ? "true" : undefined,
        },
      },
      { deadline: this.deadline() },
    );
    const page = parseAcme(
      AcmeContactPageSchema,
      expectContactStatus(response, [200], this.renameField).body,
    );
    return { results: page.results, next: page.paging?.next.after ?? null };
  }

  /** The contact with this id; 404 not_found when Acme has none. */
  async get(id: string): Promise<AcmeContact> {
    const response = await this.client.send(
      { method: "GET", path: `/v1/contacts/${id}` },
      { deadline: this.deadline() },
    );
    return parseAcme(AcmeContactSchema, expectContactStatus(response, [200], this.renameField).body);
  }

  /** The live contact with this email (Acme matches case-insensitively), or null. */
  async findByEmail(email: string, deadline = this.deadline()): Promise<AcmeContact | null> {
    const response = await this.client.send(
      { method: "GET", path: "/v1/contacts", query: { email, limit: "1" } },
      { deadline },
    );
    return (
      parseAcme(AcmeContactPageSchema, expectContactStatus(response, [200], this.renameField).body)
        .results[0] ?? null
    );
  }

  /**
   * The live contact a create of `body` (Acme's fields) left: the one with its email whose every
   * field in `body` reads as given; null if there is none or it differs (someone else's contact).
   */
  async findCreated(body: AcmeWriteBody): Promise<AcmeContact | null> {
    const found = await this.findByEmail(String(body.acme_email));
    if (!found) return null;
    const { acme_email: email, ...others } = body;
    return found.acme_email.toLowerCase() === String(email).toLowerCase() && reflects(found, others)
      ? found
      : null;
  }

  /** Creates a contact from Acme's fields (`acme_email` required); 409 duplicate_email if one has it. */
  async create(body: AcmeWriteBody): Promise<AcmeContact> {
    const request: AcmeRequest = { method: "POST", path: "/v1/contacts", body };
    // A create that failed ambiguously may have landed: look the email up before trying again.
    const verify: Verify = async ({ deadline }) => {
      const found = await this.findByEmail(String(body.acme_email), deadline);
      return found ? { applied: synthesized(201, found) } : { retry: request };
    };
    const response = await this.client.send(request, { deadline: this.deadline(), verify });
    return parseAcme(AcmeContactSchema, expectContactStatus(response, [201], this.renameField).body);
  }

  /**
   * PUT (full replace) or PATCH (merge) of `body`, under `conditions`; `expected` is what the
   * contact's fields read once the write is done (the body itself for a PATCH). After an
   * ambiguous failure the contact is read: if it already shows the change, that is the answer;
   * if not, the retry carries If-Match (the caller's, or the version just read) so it cannot
   * overwrite a change made in between. 412 version_mismatch when a condition fails.
   */
  async write(
    id: string,
    method: "PUT" | "PATCH",
    body: AcmeWriteBody,
    conditions: WriteConditions = {},
    expected: AcmeWriteBody = body,
  ): Promise<AcmeContact> {
    const headers: Record<string, string> = { ...conditions };
    const request: AcmeRequest = { method, path: `/v1/contacts/${id}`, body, headers };
    const conditional = Object.keys(headers).length > 0;
    const verify: Verify = async ({ deadline }) => {
      const current = await this.client.send({ method: "GET", path: `/v1/contacts/${id}` }, { deadline });
      if (current.status !== 200) return { applied: current };
      const contact = parseAcme(AcmeContactSchema, current.body);
      if (reflects(contact, expected)) return { applied: synthesized(200, contact) };
      return {
        retry: {
          ...request,
          headers: conditional ? headers : { "if-match": formatEtag(contact.acme_version) },
        },
      };
    };
    const response = await this.client.send(request, { deadline: this.deadline(), verify });
    return parseAcme(AcmeContactSchema, expectContactStatus(response, [200], this.renameField).body);
  }

  /** Deletes the contact under `conditions`; 404 not_found when there is none. */
  async remove(id: string, conditions: WriteConditions = {}): Promise<void> {
    const request: AcmeRequest = { method: "DELETE", path: `/v1/contacts/${id}`, headers: { ...conditions } };
    // Deleting is idempotent, but a retry after a delete that landed would answer 404: check first.
    const verify: Verify = async ({ deadline }) => {
      const current = await this.client.send({ method: "GET", path: `/v1/contacts/${id}` }, { deadline });
      return current.status === 404 ? { applied: synthesized(204, null) } : { retry: request };
    };
    expectContactStatus(
      await this.client.send(request, { deadline: this.deadline(), verify }),
      [204],
      this.renameField,
    );
  }
}
