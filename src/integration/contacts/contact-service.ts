import { SingleFlight } from "../../lib/single-flight.ts";
import type { AcmeClient } from "../acme-client/acme-client.ts";
import { isAcmeUnavailable } from "../acme-client/acme-errors.ts";
import type { AcmeContact } from "./acme-contact-schema.ts";
import { AcmeContacts, type WriteConditions } from "./acme-contacts.ts";
import type { ContactCache } from "./contact-cache.ts";
import { fromAcme, mapToAcme, replacementAtAcme } from "./mapping.ts";
import type { Contact, ContactFields, ContactInput } from "./schemas.ts";

function toContact(contact: AcmeContact): Contact {
  return fromAcme(contact) as Contact;
}

/**
 * Cold reads in flight in this isolate, by connection and contact. One that joins waits at most
 * this long (ms) for the first, beyond the 3 s interactive deadline the first is held to.
 */
const coldReads = new SingleFlight<ReadAtAcme>(4000);

/** A contact as read at Acme, and when that read began (epoch ms): the cache weighs it against tombstones. */
interface ReadAtAcme {
  contact: Contact;
  readAt: number;
}

/** A single-contact read and where it came from: fresh cache, Acme, or (Acme failing) an old copy `ageSeconds` old. */
export type ContactRead =
  | { cache: "HIT" | "MISS"; contact: Contact }
  | { cache: "STALE"; contact: Contact; ageSeconds: number };

/**
 * Contacts of one connection, in the API's shape, through Acme's contact endpoints (AcmeContacts,
 * which makes a write's retry safe), with single-contact reads cached in KV and the last good
 * copy served while Acme is unavailable. Every write drops the cached copy.
 */
export class ContactService {
  private contacts: AcmeContacts | undefined;

  constructor(
    /** The connection whose contacts these are: reads in flight are shared within it only. */
    private readonly connectionId: string,
    /** Made on first use: a read served from the cache never needs it. */
    private readonly acmeClient: () => AcmeClient,
    private readonly cache: ContactCache,
    private readonly session: { recordStaleFallback(): Promise<void> | void },
  ) {}

  private get acme(): AcmeContacts {
    this.contacts ??= new AcmeContacts(this.acmeClient());
    return this.contacts;
  }

  /** A page of contacts; `includeDeleted`: soft-deleted ones too, each with its `deletedAt`. */
  async list(query: {
    limit: number;
    cursor?: string;
    email?: string;
    updatedSince?: string;
    includeDeleted?: boolean;
  }) {
    const page = await this.acme.list({
      limit: query.limit,
      after: query.cursor,
      email: query.email,
      updatedSince: query.updatedSince,
      includeDeleted: query.includeDeleted,
    });
    return { data: page.results.map(toContact), nextCursor: page.next };
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
      const { contact, readAt } = revalidate
        ? await this.readAtAcme(id)
        : await coldReads.run(`${this.connectionId}:${id}`, () => this.readAtAcme(id));
      // Awaited, not deferred: the next read (often the caller's own) should find it.
      await this.cache.store(contact, cached, Date.now(), readAt);
      return { cache: "MISS", contact };
    } catch (error) {
      if (!isAcmeUnavailable(error)) throw error;
      cached ??= await this.cache.get(id);
      if (!cached) throw error;
      await this.session.recordStaleFallback();
      return { cache: "STALE", contact: cached.contact, ageSeconds: cached.ageSeconds };
    }
  }

  private async readAtAcme(id: string): Promise<ReadAtAcme> {
    const readAt = Date.now();
    return { contact: toContact(await this.acme.get(id)), readAt };
  }

  async create(input: ContactInput): Promise<Contact> {
    return toContact(await this.acme.create(mapToAcme(input)));
  }

  /** The contact a create of `input` made, found by its email with every field as given; null if none. */
  async findCreated(input: ContactInput): Promise<Contact | null> {
    const found = await this.acme.findCreated(mapToAcme(input));
    return found ? toContact(found) : null;
  }

  /** Full replace: the writable fields given, null for each optional one left out (read-only ones are dropped). */
  async replace(id: string, input: ContactFields, conditions: WriteConditions = {}): Promise<Contact> {
    return this.write(id, () =>
      this.acme.write(id, "PUT", mapToAcme(input), conditions, replacementAtAcme(input)),
    );
  }

  /** Merge patch: the writable fields given (null clears); read-only ones are dropped. */
  async patch(id: string, patch: ContactFields, conditions: WriteConditions = {}): Promise<Contact> {
    return this.write(id, () => this.acme.write(id, "PATCH", mapToAcme(patch), conditions));
  }

  async remove(id: string, conditions: WriteConditions = {}): Promise<void> {
    try {
      await this.acme.remove(id, conditions);
    } finally {
      // The deleted version is not known here: copies read before now no longer count.
      await this.cache.invalidate(id);
    }
  }

  /**
   * Runs a write at Acme; whatever happened, the cached copy may be out of date now: copies older
   * than the version written no longer count (any read before now, if the write failed).
   */
  private async write(id: string, atAcme: () => Promise<AcmeContact>): Promise<Contact> {
    let written: Contact | undefined;
    try {
      written = toContact(await atAcme());
      return written;
    } finally {
      await this.cache.invalidate(id, written?.version ?? null);
    }
  }
}
