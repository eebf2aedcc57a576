import { customValueProblem, isCalendarDate } from "../../lib/custom-values.ts";
import type { FieldError } from "../../lib/validation.ts";
import type { CustomPropertyType } from "../db/schema.ts";
import { MAX_CUSTOM_BYTES } from "./limits.ts";

/** A value a custom property holds. */
export type CustomValue = string | number | boolean;

/** A contact's custom values by property name (`acme_custom`). */
export type CustomValues = Record<string, CustomValue>;

/** What a write sends in `acme_custom`: a value per property, null to clear one. */
export type CustomWrite = Record<string, CustomValue | null>;

/** What a write's values are checked against: one of the account's properties. */
export interface PropertyDefinition {
  name: string;
  type: CustomPropertyType;
  /** An enumeration's allowed values; null for the other types. */
  options: readonly string[] | null;
  archived: boolean;
}

/**
 * How a write's `acme_custom` applies: `merge` (PATCH) keeps every property it does not name;
 * `replace` (create, PUT) keeps none but the archived ones, whose values are read-only.
 */
export type CustomWriteMode = "merge" | "replace";

export type CustomWriteOutcome = { ok: true; values: CustomValues } | { ok: false; errors: FieldError[] };

/** What a write naming a property the account does not have is told. */
export const UNKNOWN_PROPERTY_MESSAGE = "no such property in this account";

export { isCalendarDate };

/** Why `value` is not one `property` may hold, or null if it is (the rules in src/lib/custom-values.ts). */
export function valueProblem(property: PropertyDefinition, value: unknown): string | null {
  return customValueProblem(property, value);
}

/** `values` with its keys in order, so equal values serialize to equal text. */
function inOrder(values: Map<string, CustomValue>): CustomValues {
  return Object.fromEntries([...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const utf8Length = (text: string) => new TextEncoder().encode(text).length;

/**
 * A contact's custom values after `write`, or the errors that refuse it (each naming
 * `acme_custom.<name>`, or `acme_custom` for its size). A name the account has not defined is
 * refused, null or not. An archived property's value is read-only: sending the value the contact
 * holds (as a GET returned it; null when it holds none) is accepted, anything else refused; a
 * replace keeps it. A live property takes a value of its type, or null to clear it.
 */
export function applyCustomWrite(
  current: CustomValues,
  write: CustomWrite,
  mode: CustomWriteMode,
  properties: ReadonlyMap<string, PropertyDefinition>,
): CustomWriteOutcome {
  const next = new Map<string, CustomValue>();
  for (const [name, value] of Object.entries(current)) {
    if (mode === "merge" || properties.get(name)?.archived) next.set(name, value);
  }
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(write)) {
    const field = `acme_custom.${name}`;
    const property = properties.get(name);
    if (!property) {
      errors.push({ field, message: UNKNOWN_PROPERTY_MESSAGE });
      continue;
    }
    if (property.archived) {
      const held = Object.hasOwn(current, name) ? current[name] : null;
      if (value !== held) {
        errors.push({ field, message: "the property is archived: its value can be read but not changed" });
      }
      continue;
    }
    if (value === null) {
      next.delete(name);
      continue;
    }
    const problem = valueProblem(property, value);
    if (problem) errors.push({ field, message: problem });
    else next.set(name, value);
  }
  if (errors.length > 0) return { ok: false, errors };
  const values = inOrder(next);
  const bytes = utf8Length(JSON.stringify(values));
  if (bytes > MAX_CUSTOM_BYTES) {
    return {
      ok: false,
      errors: [
        {
          field: "acme_custom",
          message: `is ${bytes} bytes as JSON; a contact's custom values may take at most ${MAX_CUSTOM_BYTES}`,
        },
      ],
    };
  }
  return { ok: true, values };
}
