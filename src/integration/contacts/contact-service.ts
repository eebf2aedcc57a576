import { formatEtag, type IfMatch } from "../../lib/etag.ts";
import type { AcmeClient, AcmeResponse } from "../acme-client/acme-client.ts";
import { AcmeContactPageSchema, AcmeContactSchema, parseAcme } from "../acme-client/acme-contact.ts";
import { acmeProblem } from "../acme-client/acme-errors.ts";
import type { ContactCache } from "../cache/contact-cache.ts";
import type { RequestStats } from "../context.ts";
import { ApiError } from "../errors.ts";
import { acmeFieldToApi, fromAcme, mapToAcme } from "./mapping.ts";
import type { Contact, ContactInput, ContactPatch } from "./schemas.ts";

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

function ifMatchHeader(ifMatch: IfMatch | null): Record<string, string> {
  if (ifMatch === null) return {};
  if (ifMatch.kind === "invalid") {
    throw new ApiError("precondition_invalid", 'If-Match must be "*" or quoted versions such as "3".');
  }
  return { "if-match": ifMatch.kind === "any" ? "*" : ifMatch.versions.map(formatEtag).join(", ") };
}

/** Contacts of one connection, through Acme, with single-contact reads cached in KV. */
export class ContactService {
  constructor(
    private readonly acme: AcmeClient,
    private readonly cache: ContactCache,
    private readonly stats: RequestStats,
  ) {}

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

  async get(id: string): Promise<Contact> {
    const cached = await this.cache.get(id);
    if (cached?.fresh) {
      this.stats.cache = "HIT";
      return cached.contact;
    }
    this.stats.cache = "MISS";
    const response = expectStatus(await this.acme.send({ method: "GET", path: `/v1/contacts/${id}` }), 200);
    const contact = toContact(response.body);
    await this.cache.put(contact);
    return contact;
  }

  async create(input: ContactInput): Promise<Contact> {
    const response = expectStatus(
      await this.acme.send({ method: "POST", path: "/v1/contacts", body: mapToAcme(input) }),
      201,
    );
    return toContact(response.body);
  }

  async replace(id: string, input: ContactInput, ifMatch: IfMatch | null): Promise<Contact> {
    return this.write(id, () =>
      this.acme.send({
        method: "PUT",
        path: `/v1/contacts/${id}`,
        body: mapToAcme(input),
        headers: ifMatchHeader(ifMatch),
      }),
    );
  }

  async patch(id: string, patch: ContactPatch, ifMatch: IfMatch | null): Promise<Contact> {
    return this.write(id, () =>
      this.acme.send({
        method: "PATCH",
        path: `/v1/contacts/${id}`,
        body: mapToAcme(patch),
        headers: ifMatchHeader(ifMatch),
      }),
    );
  }

  async remove(id: string, ifMatch: IfMatch | null): Promise<void> {
    const headers = ifMatchHeader(ifMatch);
    try {
      expectStatus(await this.acme.send({ method: "DELETE", path: `/v1/contacts/${id}`, headers }), 204);
    } finally {
      await this.cache.invalidate(id);
    }
  }

  /** Writes drop the cached copy whatever the outcome: a failed write may still have landed. */
  private async write(id: string, send: () => Promise<AcmeResponse>): Promise<Contact> {
    try {
      return toContact(expectStatus(await send(), 200).body);
    } finally {
      await this.cache.invalidate(id);
    }
  }
}
