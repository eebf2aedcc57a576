import { and, asc, eq, gt, gte, isNull, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { drizzle } from "drizzle-orm/d1";
import { newId } from "../../lib/ids.ts";
import {
  type ContactRow,
  contacts,
  type WebhookEventRow,
  type WebhookEventType,
  webhookEvents,
} from "../db/schema.ts";
import { isUniqueViolation } from "../db/unique-violation.ts";
import { AcmeError } from "../errors.ts";
import {
  applyCustomWrite,
  type CustomValues,
  type CustomWrite,
  type CustomWriteMode,
  type PropertyDefinition,
} from "../properties/custom-values.ts";
import { accountProperties, definitionsOf } from "../properties/repository.ts";
import { outboxEvent } from "../webhooks/outbox.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import { checkPreconditions, type Preconditions, versionMismatch } from "./preconditions.ts";
import type { AcmeContact, ContactFields, ContactInput, ContactPatch } from "./schemas.ts";

export function toAcmeContact(row: ContactRow): AcmeContact {
  return {
    id: row.id,
    acme_first_name: row.firstName,
    acme_last_name: row.lastName,
    acme_email: row.email,
    acme_phone: row.phone,
    acme_company: row.company,
    acme_title: row.title,
    acme_notes: row.notes,
    acme_custom: JSON.parse(row.custom) as CustomValues,
    acme_version: row.version,
    acme_created_at: row.createdAt,
    acme_updated_at: row.updatedAt,
    acme_deleted_at: row.deletedAt,
  };
}

function writableColumns(input: ContactFields) {
  return {
    firstName: input.acme_first_name ?? null,
    lastName: input.acme_last_name ?? null,
    email: input.acme_email,
    emailKey: input.acme_email.toLowerCase(),
    phone: input.acme_phone ?? null,
    company: input.acme_company ?? null,
    title: input.acme_title ?? null,
    notes: input.acme_notes ?? null,
  };
}

function fromRow(row: ContactRow): ContactFields {
  const { acme_first_name, acme_last_name, acme_email, acme_phone, acme_company, acme_title, acme_notes } =
    toAcmeContact(row);
  return { acme_first_name, acme_last_name, acme_email, acme_phone, acme_company, acme_title, acme_notes };
}

const duplicateEmail = (email: string) =>
  new AcmeError("duplicate_email", `A contact with email ${email} already exists.`, {
    details: [{ field: "acme_email", message: "already used by another contact" }],
  });

export interface ListOptions {
  limit: number;
  after?: string | undefined;
  updatedSince?: string | undefined;
  email?: string | undefined;
  includeDeleted?: boolean | undefined;
}

/** What a write does to `acme_custom`: its values and how they apply (see applyCustomWrite). */
interface CustomChange {
  mode: CustomWriteMode;
  values: CustomWrite;
}

/**
 * The `acme_custom` column after `change` to the values `current` holds (JSON, keys in order);
 * 400 `validation_failed` naming each offending `acme_custom.<name>` (nothing is written).
 */
function customAfter(
  current: string,
  change: CustomChange,
  definitions: ReadonlyMap<string, PropertyDefinition>,
): string {
  const outcome = applyCustomWrite(
    JSON.parse(current) as CustomValues,
    change.values,
    change.mode,
    definitions,
  );
  if (!outcome.ok) {
    throw new AcmeError("validation_failed", "The contact's custom property values are not valid.", {
      details: outcome.errors,
    });
  }
  return JSON.stringify(outcome.values);
}

export interface ContactChange {
  contact: AcmeContact;
  previous: AcmeContact | null;
  /** The outbox event recorded with the change; null when the write asked for what was already there. */
  eventId: string | null;
}

/** Contacts of one account. Every query is scoped by account, so other accounts' rows are 404s. */
export class ContactRepository {
  private readonly db: DrizzleD1Database;

  constructor(
    d1: D1Database,
    private readonly accountId: string,
  ) {
    this.db = drizzle(d1);
  }

  async get(id: string, includeDeleted = false): Promise<AcmeContact> {
    return toAcmeContact(await this.row(id, includeDeleted));
  }

  async list(options: ListOptions): Promise<{ results: AcmeContact[]; nextAfter: string | null }> {
    const afterId = options.after === undefined ? undefined : decodeCursor(options.after);
    const rows = await this.db
      .select()
      .from(contacts)
      .where(
        and(
          eq(contacts.accountId, this.accountId),
          options.includeDeleted ? undefined : isNull(contacts.deletedAt),
          afterId ? gt(contacts.id, afterId) : undefined,
          options.updatedSince ? gte(contacts.updatedAt, options.updatedSince) : undefined,
          options.email ? eq(contacts.emailKey, options.email.toLowerCase()) : undefined,
        ),
      )
      // Ids never change and sort by creation, so paging by id has no gaps or repeats even while
      // contacts are updated; new contacts appear on later pages.
      .orderBy(asc(contacts.id))
      .limit(options.limit + 1);
    const page = rows.slice(0, options.limit);
    const last = page[page.length - 1];
    return {
      results: page.map(toAcmeContact),
      nextAfter: rows.length > options.limit && last ? encodeCursor(last.id) : null,
    };
  }

  /**
   * Inserts the contact and its outbox event in one batch. The partial unique index on live
   * emails decides duplicates (409 `duplicate_email`): no read ahead of the write, which would
   * cost a round trip and still race with a concurrent create.
   */
  async create(input: ContactInput, now = new Date()): Promise<ContactChange> {
    const { acme_custom: customValues = {}, ...fields } = input;
    // Properties are read only for a contact that sets some (one query, before the write).
    const definitions =
      Object.keys(customValues).length > 0
        ? definitionsOf(await accountProperties(this.db, this.accountId))
        : new Map();
    const custom = customAfter("{}", { mode: "replace", values: customValues }, definitions);
    const timestamp = now.toISOString();
    const row: ContactRow = {
      id: newId("ct", now.getTime()),
      accountId: this.accountId,
      ...writableColumns(fields),
      custom,
      version: 1,
      createdAt: timestamp,
      updatedAt: timestamp,
      deletedAt: null,
      lastEventId: null,
    };
    const event = outboxEvent(this.accountId, "contact.created", toAcmeContact(row), null, now);
    row.lastEventId = event.id;
    try {
      // The change and its outbox row commit together or not at all.
      await this.db.batch([
        this.db.insert(contacts).values(row),
        this.db.insert(webhookEvents).values(event),
      ]);
    } catch (error) {
      if (isUniqueViolation(error)) throw duplicateEmail(input.acme_email);
      throw error;
    }
    return { contact: toAcmeContact(row), previous: null, eventId: event.id };
  }

  async replace(
    id: string,
    input: ContactInput,
    preconditions: Preconditions,
    now = new Date(),
  ): Promise<ContactChange> {
    // A PUT that does not name acme_custom keeps the custom values (a client unaware of custom
    // properties, such as one written before them, must not wipe them); one that names it
    // replaces them all.
    const { acme_custom: values, ...fields } = input;
    return this.update(
      id,
      () => fields,
      values === undefined ? null : { mode: "replace", values },
      preconditions,
      now,
    );
  }

  async patch(
    id: string,
    patch: ContactPatch,
    preconditions: Preconditions,
    now = new Date(),
  ): Promise<ContactChange> {
    const { acme_custom: values, ...fields } = patch;
    return this.update(
      id,
      (current) => ({ ...current, ...fields }) as ContactFields,
      values === undefined ? null : { mode: "merge", values },
      preconditions,
      now,
    );
  }

  async softDelete(id: string, preconditions: Preconditions, now = new Date()): Promise<ContactChange> {
    const current = await this.row(id, false);
    checkPreconditions(preconditions, current.version);
    const timestamp = now.toISOString();
    const next: ContactRow = {
      ...current,
      deletedAt: timestamp,
      updatedAt: timestamp,
      version: current.version + 1,
    };
    return this.commitChange(current, next, "contact.deleted", now);
  }

  /** `custom`: what the write does to `acme_custom`; null leaves it as it is. */
  private async update(
    id: string,
    next: (current: ContactFields) => ContactFields,
    custom: CustomChange | null,
    preconditions: Preconditions,
    now: Date,
  ): Promise<ContactChange> {
    const { current, definitions } = await this.rowForWrite(id, custom !== null);
    checkPreconditions(preconditions, current.version);
    const input = next(fromRow(current));
    const columns = {
      ...writableColumns(input),
      custom: custom ? customAfter(current.custom, custom, definitions) : current.custom,
    };
    const unchanged = (Object.keys(columns) as (keyof typeof columns)[]).every(
      (key) => columns[key] === current[key],
    );
    if (unchanged)
      return { contact: toAcmeContact(current), previous: toAcmeContact(current), eventId: null };
    const updated: ContactRow = {
      ...current,
      ...columns,
      version: current.version + 1,
      updatedAt: now.toISOString(),
    };
    try {
      return await this.commitChange(current, updated, "contact.updated", now);
    } catch (error) {
      if (isUniqueViolation(error)) throw duplicateEmail(input.acme_email);
      throw error;
    }
  }

  /**
   * Writes `next` over `current` together with its outbox event, in one batch. The version guard
   * makes read-check-write atomic (a concurrent change makes this a 412), and the event row is
   * inserted only if this very update happened: the contact then carries the event's id.
   */
  private async commitChange(
    current: ContactRow,
    next: ContactRow,
    type: WebhookEventType,
    now: Date,
  ): Promise<ContactChange> {
    const event: WebhookEventRow = outboxEvent(
      this.accountId,
      type,
      toAcmeContact(next),
      toAcmeContact(current),
      now,
    );
    const { id: _id, accountId: _account, createdAt: _created, ...changes } = next;
    const [updated] = await this.db.batch([
      this.db
        .update(contacts)
        .set({ ...changes, lastEventId: event.id })
        .where(
          and(
            eq(contacts.id, current.id),
            eq(contacts.accountId, this.accountId),
            eq(contacts.version, current.version),
          ),
        )
        .returning(),
      // INSERT ... SELECT from the contact row: one event row if this update happened, none if not.
      this.db.insert(webhookEvents).select(
        this.db
          .select({
            id: sql`${event.id}`.as("id"),
            accountId: sql`${event.accountId}`.as("account_id"),
            type: sql`${event.type}`.as("type"),
            contactId: sql`${event.contactId}`.as("contact_id"),
            payload: sql`${event.payload}`.as("payload"),
            createdAt: sql`${event.createdAt}`.as("created_at"),
            enqueuedAt: sql`NULL`.as("enqueued_at"),
            leaseUntil: sql`${event.leaseUntil}`.as("lease_until"),
            finishedAt: sql`NULL`.as("finished_at"),
          })
          .from(contacts)
          .where(and(eq(contacts.id, current.id), eq(contacts.lastEventId, event.id))),
      ),
    ]);
    const row = updated[0];
    if (!row) throw versionMismatch();
    return { contact: toAcmeContact(row), previous: toAcmeContact(current), eventId: event.id };
  }

  /**
   * The live contact a write changes and, when the write sets custom values, the account's
   * properties to check them against: both in one round trip (a batch of two reads).
   */
  private async rowForWrite(
    id: string,
    withDefinitions: boolean,
  ): Promise<{ current: ContactRow; definitions: Map<string, PropertyDefinition> }> {
    if (!withDefinitions) return { current: await this.row(id, false), definitions: new Map() };
    const [rows, properties] = await this.db.batch([
      this.rowQuery(id, false),
      accountProperties(this.db, this.accountId),
    ]);
    return { current: found(id, rows[0]), definitions: definitionsOf(properties) };
  }

  private async row(id: string, includeDeleted: boolean): Promise<ContactRow> {
    return found(id, await this.rowQuery(id, includeDeleted).get());
  }

  private rowQuery(id: string, includeDeleted: boolean) {
    return this.db
      .select()
      .from(contacts)
      .where(
        and(
          eq(contacts.id, id),
          eq(contacts.accountId, this.accountId),
          includeDeleted ? undefined : isNull(contacts.deletedAt),
        ),
      );
  }
}

function found(id: string, row: ContactRow | undefined): ContactRow {
  if (!row) throw new AcmeError("not_found", `Contact ${id} was not found.`);
  return row;
}
