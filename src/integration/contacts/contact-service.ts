import { formatEtag } from "../../lib/etag.ts";
import { SingleFlight } from "../../lib/single-flight.ts";
import type { AcmeClient, AcmeRequest, Verify } from "../acme-client/acme-client.ts";
import { acmeProblem, isAcmeUnavailable } from "../acme-client/acme-errors.ts";
import type { AcmeResponse } from "../acme-client/transport.ts";
import type { ContactCache } from "../cache/contact-cache.ts";
import { ApiError } from "../errors.ts";
import {
  type AcmeContact,
  AcmeContactPageSchema,
  AcmeContactSchema,
  parseAcme,
} from "./acme-contact-schema.ts";
import { acmeFieldToApi, fromAcme, mapToAcme, replacementAtAcme } from "./mapping.ts";
import type { Contact, ContactFields, ContactInput } from "./schemas.ts";

const LIST_PARAMS: Record<string, string> = {
  after: "cursor",
  updated_since: "updatedSince",
  limit: "limit",
};

function renameField(field: string): string {
  return LIST_PARAMS[field] ?? acmeFieldToApi(field);
}

function toContact(body: unknown): Contact {
  return fromAcme(parseAcme(AcmeContactSchema, body)) as Contact;
}

function expectStatus(response: AcmeResponse, ...ok: number[]): AcmeResponse {
  if (ok.includes(response.status)) return response;
  const error = (response.body as { error?: { code?: string } } | null)?.error;
  if (response.status === 400 && error?.code === "invalid_cursor") {
    throw new ApiError("invalid_cursor", "The cursor is not valid; start again without it.", {
      errors: [{ field: "cursor", message: "not a cursor issued by this API" }],
    });
  }
  throw acmeProblem(response.status, response.body, response.headers, renameField);
}

/**
 * The caller's `If-Match` / `If-None-Match`, already checked well-formed (RFC 9110 13.1), as they
 * go to Acme: Acme compares them with the contact's version and answers 412 when one fails.
 */
export type WriteConditions = { "if-match"?: string; "if-none-match"?: string };

/** True when every field the write set already has that value at Acme. */
function reflects(contact: AcmeContact, fields: Record<string, string | null>): boolean {
  return Object.entries(fields).every(
    ([field, value]) => (contact as Record<string, unknown>)[field] === value,
  );
}

function synthesized(status: number, body: unknown): AcmeResponse {
  return { status, headers: new Headers(), body };
}

/**
 * Cold reads in flight in this isolate, by connection and contact. One that joins waits at most
 * this long (ms) for the first, beyond the 3 s interactive deadline the first is held to.
 */
const coldReads = new SingleFlight<Contact>(4000);

/** A single-contact read and where it came from: fresh cache, Acme, or (Acme failing) an old copy `ageSeconds` old. */
export type ContactRead =
  | { cache: "HIT" | "MISS"; contact: Contact }
  | { cache: "STALE"; contact: Contact; ageSeconds: number };

/**
 * Contacts of one connection, through Acme, with single-contact reads cached in KV. Writes are
 * retried after an ambiguous failure only once Acme has been asked whether they happened, so a
 * retry never creates a second contact or overwrites someone else's change.
 */
export class ContactService {
  private client: AcmeClient | undefined;

  constructor(
    /** The connection whose contacts these are: reads in flight are shared within it only. */
    private readonly connectionId: string,
    /** Made on first use: a read served from the cache never needs it. */
    private readonly acmeClient: () => AcmeClient,
    private readonly cache: ContactCache,
    private readonly session: { recordStaleFallback(): Promise<void> | void },
  ) {}

  private get acme(): AcmeClient {
    this.client ??= this.acmeClient();
    return this.client;
  }

  async list(query: { limit: number; cursor?: string; email?: string; updatedSince?: string }) {
    const response = expectStatus(
      await this.acme.send({
        method: "GET",
        path: "/v1/contacts",
        query: {
          limit: String(query.limit),
          after: query.cursor,
          email: query.email,
          updated_since: query.updatedSince,
        },
      }),
      200,
    );
    const page = parseAcme(AcmeContactPageSchema, response.body);
    return {
      data: page.results.map((r) => fromAcme(r) as Contact),
      nextCursor: page.paging?.next.after ?? null,
    };
  }

  /**
   * Fresh cache, else Acme (always Acme with `revalidate`); while Acme fails, the last good copy
   * (`STALE`) rather than an error. Cold reads of one contact in flight at once in this isolate
   * share one Acme call; a revalidation makes its own (it must see Acme after it began). The copy
   * is stored by the cache's rules (never failing the read).
   */
  async get(id: string, revalidate = false): Promise<ContactRead> {
    // With `revalidate` the cached copy only matters if Acme fails: read it then, not before.
    let cached = revalidate ? undefined : await this.cache.get(id);
    if (cached?.fresh) return { cache: "HIT", contact: cached.contact };
    try {
      const contact = revalidate
        ? await this.readAtAcme(id)
        : await coldReads.run(`${this.connectionId}:${id}`, () => this.readAtAcme(id));
      // Awaited, not deferred: the next read (often the caller's own) should find it.
      await this.cache.store(contact, cached);
      return { cache: "MISS", contact };
    } catch (error) {
      if (!isAcmeUnavailable(error)) throw error;
      cached ??= await this.cache.get(id);
      if (!cached) throw error;
      await this.session.recordStaleFallback();
      return { cache: "STALE", contact: cached.contact, ageSeconds: cached.ageSeconds };
    }
  }

  private async readAtAcme(id: string): Promise<Contact> {
    const response = expectStatus(await this.acme.send({ method: "GET", path: `/v1/contacts/${id}` }), 200);
    return toContact(response.body);
  }

  async create(input: ContactInput): Promise<Contact> {
    const body = mapToAcme(input);
    // A create that failed ambiguously may have landed: look the email up before trying again.
    const verify: Verify = async ({ deadline }) => {
      const found = await this.findByEmail(input.email, deadline);
      return found
        ? { applied: synthesized(201, found) }
        : { retry: { method: "POST", path: "/v1/contacts", body } };
    };
    const response = await this.acme.send({ method: "POST", path: "/v1/contacts", body }, { verify });
    return toContact(expectStatus(response, 201).body);
  }

  /** Full replace: the writable fields given, null for each optional one left out (read-only ones are dropped). */
  async replace(id: string, input: ContactFields, conditions: WriteConditions = {}): Promise<Contact> {
    const request: AcmeRequest = { method: "PUT", path: `/v1/contacts/${id}`, body: mapToAcme(input) };
    return this.write(id, request, conditions, replacementAtAcme(input));
  }

  /** Merge patch: the writable fields given (null clears); read-only ones are dropped. */
  async patch(id: string, patch: ContactFields, conditions: WriteConditions = {}): Promise<Contact> {
    const body = mapToAcme(patch);
    return this.write(id, { method: "PATCH", path: `/v1/contacts/${id}`, body }, conditions, body);
  }

  async remove(id: string, conditions: WriteConditions = {}): Promise<void> {
    const request: AcmeRequest = { method: "DELETE", path: `/v1/contacts/${id}`, headers: { ...conditions } };
    // Deleting is idempotent, but a retry after a delete that landed would answer 404: check first.
    const verify: Verify = async ({ deadline }) => {
      const current = await this.acme.send({ method: "GET", path: `/v1/contacts/${id}` }, { deadline });
      return current.status === 404 ? { applied: synthesized(204, null) } : { retry: request };
    };
    try {
      expectStatus(await this.acme.send(request, { verify }), 204);
    } finally {
      await this.cache.invalidate(id);
    }
  }

  /**
   * PUT and PATCH. After an ambiguous failure the contact is read: if it already shows the
   * change, that is the answer; if not, the retry carries If-Match (the caller's, or the version
   * just read) so it cannot overwrite a change made in between.
   */
  private async write(
    id: string,
    request: AcmeRequest,
    conditions: WriteConditions,
    expected: Record<string, string | null>,
  ): Promise<Contact> {
    const headers: Record<string, string> = { ...conditions };
    const conditional = Object.keys(headers).length > 0;
    const verify: Verify = async ({ deadline }) => {
      const current = await this.acme.send({ method: "GET", path: `/v1/contacts/${id}` }, { deadline });
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
    try {
      const response = await this.acme.send({ ...request, headers }, { verify });
      return toContact(expectStatus(response, 200).body);
    } finally {
      // Whatever happened, the cached copy may be out of date now.
      await this.cache.invalidate(id);
    }
  }

  private async findByEmail(email: string, deadline: number): Promise<AcmeContact | null> {
    const response = await this.acme.send(
      { method: "GET", path: "/v1/contacts", query: { email, limit: "1" } },
      { deadline },
    );
    if (response.status !== 200) return null;
    return parseAcme(AcmeContactPageSchema, response.body).results[0] ?? null;
  }
}
