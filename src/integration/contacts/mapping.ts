import { z } from "zod";
import { MAX_CUSTOM_STRING_LENGTH, customValueProblem as valueProblemOf } from "../../lib/custom-values.ts";

// The one declarative mapping between the API's contact and Acme's, used in both directions
// (bodies, responses and field names inside error details). Every list of the contact's fields
// derives from it: the API's response and input schemas (schemas.ts), the integration's reading
// of Acme's contact (acme-contact-schema.ts), what a full replace clears, the feed's diff.

/** How a field's value reads, the same on both sides. */
const VALUE = {
  string: z.string(),
  stringOrNull: z.string().nullable(),
  integer: z.number().int(),
  /** Present only when set: absent (or null at Acme) reads as absent in the API. */
  optionalString: z.string().nullable().optional(),
} as const;

/**
 * `writable`: a client may set it; `required`: a create and a full replace must (the others are
 * optional there, and a full replace sets each one it omits to null). Names and text can read
 * null although they are required on write: Acme allows contacts without names.
 */
export const CONTACT_FIELDS = [
  { api: "id", acme: "id", value: "string", writable: false },
  { api: "firstName", acme: "acme_first_name", value: "stringOrNull", writable: true, required: true },
  { api: "lastName", acme: "acme_last_name", value: "stringOrNull", writable: true, required: true },
  { api: "email", acme: "acme_email", value: "string", writable: true, required: true },
  { api: "phone", acme: "acme_phone", value: "stringOrNull", writable: true, required: false },
  { api: "company", acme: "acme_company", value: "stringOrNull", writable: true, required: false },
  { api: "title", acme: "acme_title", value: "stringOrNull", writable: true, required: false },
  { api: "notes", acme: "acme_notes", value: "stringOrNull", writable: true, required: false },
  { api: "version", acme: "acme_version", value: "integer", writable: false },
  { api: "createdAt", acme: "acme_created_at", value: "string", writable: false },
  { api: "updatedAt", acme: "acme_updated_at", value: "string", writable: false },
  // Only soft-deleted contacts have it (listed with includeDeleted=true); live ones omit it.
  { api: "deletedAt", acme: "acme_deleted_at", value: "optionalString", writable: false },
] as const;

type Field = (typeof CONTACT_FIELDS)[number];
type Side = "api" | "acme";
export type ApiField = Field["api"];
export type AcmeField = Field["acme"];
export type WritableApiField = Extract<Field, { writable: true }>["api"];
export type RequiredApiField = Extract<Field, { required: true }>["api"];
/** Fields that may read null. */
export type NullableApiField = Extract<Field, { value: "stringOrNull" }>["api"];

/** The value schema of each field, keyed by one side's names. */
export type ContactShape<S extends Side> = { [F in Field as F[S]]: (typeof VALUE)[F["value"]] };

/** The contact's fields and value schemas as the API (`"api"`) or Acme (`"acme"`) names them. */
export function contactShape<S extends Side>(side: S): ContactShape<S> {
  return Object.fromEntries(CONTACT_FIELDS.map((f) => [f[side], VALUE[f.value]])) as ContactShape<S>;
}

/** Writable fields a create and a full replace must carry. */
export const REQUIRED_FIELDS = CONTACT_FIELDS.filter((f) => f.writable && f.required).map((f) => f.api);

/** Writable fields a create or full replace may leave out. */
export const OPTIONAL_FIELDS = CONTACT_FIELDS.filter((f) => f.writable && !f.required).map((f) => f.api);

const API_TO_ACME = new Map<string, string>(CONTACT_FIELDS.map((f) => [f.api, f.acme]));
const ACME_TO_API = new Map<string, string>(CONTACT_FIELDS.map((f) => [f.acme, f.api]));

/** API fields to Acme's, for writes; only writable fields present in `input` are carried. */
export function mapToAcme(
  input: Partial<Record<WritableApiField, string | null>>,
): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const field of CONTACT_FIELDS) {
    if (!field.writable) continue;
    const value = input[field.api];
    if (value !== undefined) out[field.acme] = value;
  }
  return out;
}

/** What a full replace (PUT) leaves at Acme: the input's fields, and null for each optional one it omits. */
export function replacementAtAcme(
  input: Partial<Record<WritableApiField, string | null>>,
): Record<string, string | null> {
  return { ...mapToAcme(Object.fromEntries(OPTIONAL_FIELDS.map((f) => [f, null]))), ...mapToAcme(input) };
}

/**
 * Acme's contact as the integration keeps it (in KV copies, the mirror and the feed): the table's
 * fields under the API's names, and Acme's custom values as Acme holds them (`acmeCustom`, by
 * property name; `{}` when Acme sent none), which `withCustomFields` maps per connection on the
 * way out. Acme fields the table does not name are dropped, missing ones are null, and an optional
 * one (`deletedAt`) is left out unless it has a value.
 */
export function fromAcme(
  acme: Record<string, unknown>,
): Record<ApiField, unknown> & { acmeCustom: AcmeCustomValues } {
  const out = {} as Record<ApiField, unknown> & { acmeCustom: AcmeCustomValues };
  for (const field of CONTACT_FIELDS) {
    const value = acme[field.acme] ?? null;
    if (field.value === "optionalString" && value === null) continue;
    out[field.api] = value;
  }
  const custom = acme.acme_custom;
  out.acmeCustom = custom && typeof custom === "object" ? { ...(custom as AcmeCustomValues) } : {};
  return out;
}

/** Renames a field path from Acme's error details (`acme_email`) to the API's (`email`). */
export function acmeFieldToApi(path: string): string {
  const [head, ...rest] = path.split(".");
  const mapped = head === undefined ? undefined : ACME_TO_API.get(head);
  return mapped ? [mapped, ...rest].join(".") : path;
}

/** The Acme name of an API field; undefined for names the table does not have. */
export function apiFieldToAcme(field: string): string | undefined {
  return API_TO_ACME.get(field);
}

// ---- the per-connection part: custom fields ----
//
// Each connection maps some of its Acme account's custom properties (`acme_custom.<name>`) to API
// names of its own (`customFields.<apiName>`). The integration keeps Acme's raw values (in the
// KV copies, the mirror and the feed) and applies the connection's mapping on the way out, so a
// mapping change applies to every read at once without asking Acme again.

/** The value types of Acme's custom properties, as the integration reads Acme's contract. */
export const CUSTOM_FIELD_TYPES = ["string", "number", "boolean", "date", "enumeration"] as const;
export type CustomFieldType = (typeof CUSTOM_FIELD_TYPES)[number];

/** A custom property's value, the same on both sides. */
export type CustomValue = string | number | boolean;

/** One mapped custom field of a connection: its API name, the Acme property, and that property's type. */
export interface CustomFieldMapping {
  apiName: string;
  /** The Acme property's name (the key in `acme_custom`). */
  remote: string;
  type: CustomFieldType;
  /** An enumeration's options, as Acme stated them when the field was mapped; null for other types. */
  options: string[] | null;
  /** Acme's label of the property, when the field was mapped. */
  label: string;
}

/** What a custom field's API name looks like. */
export const CUSTOM_FIELD_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;

/** Names a custom field may not take: the contact's own fields, and the key that holds the custom ones. */
export const RESERVED_FIELD_NAMES: ReadonlySet<string> = new Set([
  ...CONTACT_FIELDS.map((f) => f.api),
  "customFields",
]);

export { MAX_CUSTOM_STRING_LENGTH };

/**
 * Why `value` is not one the mapped field takes (null: it is). The rules are Acme's own
 * (src/lib/custom-values.ts), so a bad value fails here, named by the API's field, before any call
 * to Acme.
 */
export function customValueProblem(field: CustomFieldMapping, value: unknown): string | null {
  return valueProblemOf(field, value);
}

/** A contact's custom values as Acme keeps them, by property name (`acme_custom`). */
export type AcmeCustomValues = Record<string, CustomValue>;

/** The API's `customFields`: every mapped field, by API name, null when the contact holds no value. */
export function customFieldsFromAcme(
  raw: AcmeCustomValues | null | undefined,
  mapping: readonly CustomFieldMapping[],
): Record<string, CustomValue | null> {
  return Object.fromEntries(
    mapping.map((m) => [m.apiName, raw && Object.hasOwn(raw, m.remote) ? (raw[m.remote] ?? null) : null]),
  );
}

/** A write's `customFields` (checked: every name mapped) as Acme's `acme_custom`, null kept (it clears). */
export function customFieldsToAcme(
  input: Record<string, CustomValue | null>,
  mapping: readonly CustomFieldMapping[],
): Record<string, CustomValue | null> {
  const byName = new Map(mapping.map((m) => [m.apiName, m]));
  const out: Record<string, CustomValue | null> = {};
  for (const [apiName, value] of Object.entries(input)) {
    const field = byName.get(apiName);
    if (field) out[field.remote] = value;
  }
  return out;
}

/**
 * The problems of a write's `customFields` under the connection's mapping, each naming
 * `customFields.<apiName>`: a name not mapped, or a value the mapped property does not take (null
 * always passes: it clears the value).
 */
export function customFieldProblems(
  input: Record<string, unknown>,
  mapping: readonly CustomFieldMapping[],
): { field: string; message: string }[] {
  const byName = new Map(mapping.map((m) => [m.apiName, m]));
  const problems: { field: string; message: string }[] = [];
  for (const [apiName, value] of Object.entries(input)) {
    const field = `customFields.${apiName}`;
    const mapped = byName.get(apiName);
    if (!mapped) {
      problems.push({ field, message: "not a custom field of this connection (GET /api/v1/field-mappings)" });
      continue;
    }
    if (value === null) continue;
    const problem = customValueProblem(mapped, value);
    if (problem) problems.push({ field, message: problem });
  }
  return problems;
}

/**
 * Renames a field path from Acme's error details to the API's under the connection's mapping:
 * `acme_custom.<remote>` is `customFields.<apiName>` (`customFields` when the property is not
 * mapped, or for the whole object); the fixed table renames the rest.
 */
export function acmeFieldToApiWith(path: string, mapping: readonly CustomFieldMapping[]): string {
  if (path === "acme_custom") return "customFields";
  if (path.startsWith("acme_custom.")) {
    const remote = path.slice("acme_custom.".length);
    const field = mapping.find((m) => m.remote === remote);
    return field ? `customFields.${field.apiName}` : "customFields";
  }
  return acmeFieldToApi(path);
}

/**
 * A kept contact as the connection sees it: Acme's raw custom values (`acmeCustom`) replaced by
 * `customFields`, every mapped field by its API name (null when unset). A property the
 * connection does not map never shows, whatever the copy holds.
 */
export function withCustomFields<T extends { acmeCustom?: AcmeCustomValues }>(
  kept: T,
  mapping: readonly CustomFieldMapping[],
): Omit<T, "acmeCustom"> & { customFields: Record<string, CustomValue | null> } {
  const { acmeCustom, ...fields } = kept;
  return { ...fields, customFields: customFieldsFromAcme(acmeCustom, mapping) };
}

/** How a kept change names a custom value it changed: by Acme's property (`acme_custom.<name>`), mapped on the way out. */
const RAW_CUSTOM_PREFIX = "acme_custom.";

/** The key a kept change's diff gives a change of Acme property `remote`. */
export function rawCustomChangeKey(remote: string): string {
  return `${RAW_CUSTOM_PREFIX}${remote}`;
}

/**
 * A kept change's `{field: {from, to}}` as the connection sees it: each change of a mapped Acme
 * property named `customFields.<apiName>`, those of properties it does not map left out, the
 * table's fields as they are.
 */
export function changesWithCustomFields<V>(
  changes: Record<string, V>,
  mapping: readonly CustomFieldMapping[],
): Record<string, V> {
  const byRemote = new Map(mapping.map((m) => [m.remote, m.apiName]));
  const out: Record<string, V> = {};
  for (const [key, change] of Object.entries(changes)) {
    if (!key.startsWith(RAW_CUSTOM_PREFIX)) {
      out[key] = change;
      continue;
    }
    const apiName = byRemote.get(key.slice(RAW_CUSTOM_PREFIX.length));
    if (apiName !== undefined) out[`customFields.${apiName}`] = change;
  }
  return out;
}
