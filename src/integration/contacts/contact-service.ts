import { SingleFlight } from "../../lib/single-flight.ts";
import type { AcmeClient } from "../acme-client/acme-client.ts";
import { isAcmeUnavailable } from "../acme-client/acme-errors.ts";
import { ApiError } from "../errors.ts";
import type { AcmeContact } from "./acme-contact-schema.ts";
import {
  AcmeContacts,
  type AcmeCustomWrite,
  type AcmeWriteBody,
  type WriteConditions,
} from "./acme-contacts.ts";
import type { ContactCache } from "./contact-cache.ts";
import {
  acmeFieldToApiWith,
  type CustomFieldMapping,
  customFieldProblems,
  customFieldsToAcme,
  fromAcme,
  mapToAcme,
  replacementAtAcme,
  withCustomFields,
} from "./mapping.ts";
import type { Contact, ContactFields, ContactInput, CustomFieldsInput, StoredContact } from "./schemas.ts";

function toStored(contact: AcmeContact): StoredContact {
  return fromAcme(contact) as StoredContact;
}

/**
 * A write's `customFields` as Acme's `acme_custom` under the connection's mapping; undefined when
 * the write sends none. 400 naming each `customFields.<name>` that is not mapped or whose value
 * the mapped property does not take, before anything is sent to Acme.
 */
export function customWrite(
  input: CustomFieldsInput | undefined,
  mapping: readonly CustomFieldMapping[],
): AcmeCustomWrite | undefined {
  if (input === undefined) return undefined;
  const problems = customFieldProblems(input, mapping);
  if (problems.length > 0) {
    throw new ApiError("validation_failed", "The request is not valid.", { errors: problems });
  }
  return customFieldsToAcme(input, mapping);
}

/** A copy kept before custom fields existed holds no custom values: not served as current to a connection that maps some. */
function holdsCustomValues(contact: StoredContact, mapping: readonly CustomFieldMapping[]): boolean {
  return mapping.length === 0 || contact.acmeCustom !== undefined;
}

/**
 * Cold reads in flight in this isolate, by connection and contact. One that joins waits at most
 * this long (ms) for the first, beyond the 3 s interactive deadline the first is held to.
 */
const coldReads = new SingleFlight<ReadAtAcme>(4000);

/** A contact as read at Acme, and when that read began (epoch ms): the cache weighs it against tombstones. */
interface ReadAtAcme {
  contact: StoredContact;
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
 *
 * What is read from Acme is kept (cached, shared between reads in flight) with Acme's custom
 * values raw, and every answer maps them through the connection's custom-field mapping as it is
 * at that moment: a mapping change applies to the next read, cached or not, with no call to Acme.
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
    /**
     * The connection's custom-field mapping; `fresh`: as stored now (writes check against it),
     * else maybe this isolate's recent copy (reads).
     */
    private readonly mapping: (fresh: boolean) => Promise<readonly CustomFieldMapping[]> = async () => [],
  ) {}

  /** Acme's contact endpoints, errors naming custom fields as `mapping` names them. */
  private acme(mapping: readonly CustomFieldMapping[] = []): AcmeContacts {
    this.client ??= this.acmeClient();
    return new AcmeContacts(this.client, undefined, (field) => acmeFieldToApiWith(field, mapping));
  }

  /** A page of contacts; `includeDeleted`: soft-deleted ones too, each with its `deletedAt`. */
  async list(query: {
    limit: number;
    cursor?: string;
    email?: string;
    updatedSince?: string;
    includeDeleted?: boolean;
  }) {
    const [page, mapping] = await Promise.all([
      this.acme().list({
        limit: query.limit,
        after: query.cursor,
        email: query.email,
        updatedSince: query.updatedSince,
        includeDeleted: query.includeDeleted,
      }),
      this.mapping(false),
    ]);
    return {
      data: page.results.map((contact) => withCustomFields(toStored(contact), mapping) as Contact),
      nextCursor: page.next,
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
    let [mapping, cached] = await Promise.all([
      this.mapping(false),
      revalidate ? undefined : this.cache.get(id),
    ]);
    if (cached?.fresh && holdsCustomValues(cached.contact, mapping)) {
      return { cache: "HIT", contact: withCustomFields(cached.contact, mapping) as Contact };
    }
    try {
      const { contact, readAt } = revalidate
        ? await this.readAtAcme(id)
        : await coldReads.run(`${this.connectionId}:${id}`, () => this.readAtAcme(id));
      // Awaited, not deferred: the next read (often the caller's own) should find it.
      await this.cache.store(contact, cached, Date.now(), readAt);
      return { cache: "MISS", contact: withCustomFields(contact, mapping) as Contact };
    } catch (error) {
      if (!isAcmeUnavailable(error)) throw error;
      cached ??= await this.cache.get(id);
      if (!cached) throw error;
      await this.session.recordStaleFallback();
      return {
        cache: "STALE",
        contact: withCustomFields(cached.contact, mapping) as Contact,
        ageSeconds: cached.ageSeconds,
      };
    }
  }

  private async readAtAcme(id: string): Promise<ReadAtAcme> {
    const readAt = Date.now();
    return { contact: toStored(await this.acme().get(id)), readAt };
  }

  /** The create's body at Acme: its fields, and its custom fields (checked: 400 naming each bad one). */
  private createBody(input: ContactInput, mapping: readonly CustomFieldMapping[]): AcmeWriteBody {
    const custom = customWrite(input.customFields, mapping);
    return { ...mapToAcme(input), ...(custom ? { acme_custom: custom } : {}) };
  }

  async create(input: ContactInput): Promise<Contact> {
    const mapping = await this.mapping(true);
    const body = this.createBody(input, mapping);
    return withCustomFields(toStored(await this.acme(mapping).create(body)), mapping) as Contact;
  }

  /** The contact a create of `input` made, found by its email with every field as given; null if none. */
  async findCreated(input: ContactInput): Promise<Contact | null> {
    const mapping = await this.mapping(true);
    const found = await this.acme(mapping).findCreated(this.createBody(input, mapping));
    return found ? (withCustomFields(toStored(found), mapping) as Contact) : null;
  }

  /**
   * Full replace: the writable fields given, null for each optional one left out (read-only ones
   * are dropped). With `customFields`, the mapped fields too (each one left out becomes null),
   * sent as a merge of every field so the Acme properties the connection does not map keep their
   * values (Acme's PUT would replace them all); without, the custom values stay as they are.
   */
  async replace(id: string, input: ContactFields, conditions: WriteConditions = {}): Promise<Contact> {
    const mapping = await this.mapping(true);
    const custom = customWrite(input.customFields, mapping);
    if (custom === undefined) {
      return this.write(id, mapping, (acme) =>
        acme.write(id, "PUT", mapToAcme(input), conditions, replacementAtAcme(input)),
      );
    }
    const cleared = Object.fromEntries(mapping.map((m) => [m.remote, null]));
    const body: AcmeWriteBody = { ...replacementAtAcme(input), acme_custom: { ...cleared, ...custom } };
    return this.write(id, mapping, (acme) => acme.write(id, "PATCH", body, conditions));
  }

  /** Merge patch: the writable fields given (null clears), custom fields merged per field; read-only ones are dropped. */
  async patch(id: string, patch: ContactFields, conditions: WriteConditions = {}): Promise<Contact> {
    const mapping = await this.mapping(true);
    const custom = customWrite(patch.customFields, mapping);
    const body: AcmeWriteBody = { ...mapToAcme(patch), ...(custom ? { acme_custom: custom } : {}) };
    return this.write(id, mapping, (acme) => acme.write(id, "PATCH", body, conditions));
  }

  async remove(id: string, conditions: WriteConditions = {}): Promise<void> {
    try {
      await this.acme().remove(id, conditions);
    } finally {
      // The deleted version is not known here: copies read before now no longer count.
      await this.cache.invalidate(id);
    }
  }

  /**
   * Runs a write at Acme; whatever happened, the cached copy may be out of date now: copies older
   * than the version written no longer count (any read before now, if the write failed).
   */
  private async write(
    id: string,
    mapping: readonly CustomFieldMapping[],
    atAcme: (acme: AcmeContacts) => Promise<AcmeContact>,
  ): Promise<Contact> {
    let written: StoredContact | undefined;
    try {
      written = toStored(await atAcme(this.acme(mapping)));
      return withCustomFields(written, mapping) as Contact;
    } finally {
      await this.cache.invalidate(id, written?.version ?? null);
    }
  }
}
