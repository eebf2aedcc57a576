import { and, asc, eq, sql } from "drizzle-orm";
import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import { type CustomPropertyRow, customProperties } from "../db/schema.ts";
import { isUniqueViolation } from "../db/unique-violation.ts";
import { AcmeError } from "../errors.ts";
import type { PropertyDefinition } from "./custom-values.ts";
import { MAX_PROPERTIES_PER_ACCOUNT } from "./limits.ts";
import type { AcmeProperty, PropertyInput } from "./schemas.ts";

const optionsOf = (row: CustomPropertyRow): string[] | null =>
  row.options === null ? null : (JSON.parse(row.options) as string[]);

export function toAcmeProperty(row: CustomPropertyRow): AcmeProperty {
  const options = optionsOf(row);
  return {
    name: row.name,
    label: row.label,
    type: row.type,
    ...(options ? { options } : {}),
    archived: row.archivedAt !== null,
  };
}

/** The account's properties as contact writes check their `acme_custom` against, by name. */
export function definitionsOf(rows: readonly CustomPropertyRow[]): Map<string, PropertyDefinition> {
  return new Map(
    rows.map((row) => [
      row.name,
      { name: row.name, type: row.type, options: optionsOf(row), archived: row.archivedAt !== null },
    ]),
  );
}

/**
 * The query for every property of an account (at most MAX_PROPERTIES_PER_ACCOUNT rows, by the
 * primary key's account prefix), to run alone or in a batch with the contact it is checked for.
 */
export function accountProperties(db: DrizzleD1Database, accountId: string) {
  return db
    .select()
    .from(customProperties)
    .where(eq(customProperties.accountId, accountId))
    .orderBy(asc(customProperties.name));
}

const duplicateProperty = (name: string) =>
  new AcmeError("duplicate_property", `The account already has a property named ${name}.`, {
    details: [{ field: "name", message: "already used by a property of this account (archived or not)" }],
  });

/** Custom properties of one account: every query is scoped by it, like contacts. */
export class PropertyRepository {
  private readonly db: DrizzleD1Database;

  constructor(
    d1: D1Database,
    private readonly accountId: string,
  ) {
    this.db = drizzle(d1);
  }

  async list(): Promise<AcmeProperty[]> {
    return (await accountProperties(this.db, this.accountId)).map(toAcmeProperty);
  }

  /**
   * Inserts the property only while the account has fewer than MAX_PROPERTIES_PER_ACCOUNT, in one
   * statement, so concurrent creates cannot overshoot; the primary key decides duplicates (409).
   */
  async create(input: PropertyInput, now = new Date()): Promise<AcmeProperty> {
    const options = input.type === "enumeration" ? JSON.stringify(input.options) : null;
    // Values in the table's column order: account_id, name, label, type, options, created_at, archived_at.
    const values = sql`SELECT ${this.accountId}, ${input.name}, ${input.label}, ${input.type}, ${options},
      ${now.toISOString()}, NULL
      WHERE (SELECT COUNT(*) FROM ${customProperties} WHERE ${customProperties.accountId} = ${this.accountId})
        < ${MAX_PROPERTIES_PER_ACCOUNT}`;
    let inserted: CustomPropertyRow[];
    try {
      inserted = await this.db.insert(customProperties).select(values).returning();
    } catch (error) {
      if (isUniqueViolation(error)) throw duplicateProperty(input.name);
      throw error;
    }
    const row = inserted[0];
    if (row) return toAcmeProperty(row);
    // Nothing inserted: the account is full. A name it already has is still the clearer answer.
    if (await this.find(input.name)) throw duplicateProperty(input.name);
    throw new AcmeError(
      "property_limit_reached",
      `The account has ${MAX_PROPERTIES_PER_ACCOUNT} properties, the most it may have (archived ones count).`,
      {
        details: [
          {
            field: "name",
            message: `no room for another property: an account may have ${MAX_PROPERTIES_PER_ACCOUNT}, archived ones included`,
          },
        ],
      },
    );
  }

  /** Archives the property (again is a no-op); 404 for a name the account has not defined. */
  async archive(name: string, now = new Date()): Promise<void> {
    const archived = await this.db
      .update(customProperties)
      .set({ archivedAt: sql`COALESCE(${customProperties.archivedAt}, ${now.toISOString()})` })
      .where(and(eq(customProperties.accountId, this.accountId), eq(customProperties.name, name)))
      .returning({ name: customProperties.name });
    if (archived.length === 0) throw new AcmeError("not_found", `Property ${name} was not found.`);
  }

  private async find(name: string): Promise<CustomPropertyRow | undefined> {
    return this.db
      .select()
      .from(customProperties)
      .where(and(eq(customProperties.accountId, this.accountId), eq(customProperties.name, name)))
      .get();
  }
}
