import { type FieldError, fieldErrors } from "../../lib/validation.ts";
import type { AcmeContact } from "../contacts/acme-contact-schema.ts";
import type { AcmeCustomWrite, AcmeWriteBody } from "../contacts/acme-contacts.ts";
import {
  type CustomFieldMapping,
  customFieldProblems,
  customFieldsToAcme,
  mapToAcme,
} from "../contacts/mapping.ts";
import { ContactCreateSchema, type ContactInput } from "../contacts/schemas.ts";
import type { RawRow } from "./import-parser.ts";

/** A row that failed, as `GET /jobs/{id}/errors` shows it (API field names). */
export interface RowError {
  row: number;
  email: string | null;
  code: string;
  errors: FieldError[];
}

/** A row checked like a single create (same zod schema): the input, or why it fails. */
export type CheckedRow = { row: number; input: ContactInput } | { row: number; error: RowError };

function emailOf(value: unknown): string | null {
  const email = (value as { email?: unknown } | null)?.email;
  return typeof email === "string" ? email : null;
}

/**
 * Validates one raw row with the API's contact schema and its custom fields with the connection's
 * `mapping`, as a single create is; errors carry the API's field names. A row marked as a
 * duplicate of a later one (markDuplicateEmails) fails as `duplicate_in_file`.
 */
export function checkRow(raw: RawRow, mapping: readonly CustomFieldMapping[] = []): CheckedRow {
  if ("duplicateOf" in raw) {
    return {
      row: raw.row,
      error: {
        row: raw.row,
        email: raw.email,
        code: "duplicate_in_file",
        errors: [{ field: "email", message: `also on row ${raw.duplicateOf}, which is imported instead` }],
      },
    };
  }
  if ("unreadable" in raw) {
    return {
      row: raw.row,
      error: { row: raw.row, email: null, code: "malformed_row", errors: raw.unreadable },
    };
  }
  const parsed = ContactCreateSchema.safeParse(raw.value);
  const errors = parsed.success
    ? customFieldProblems(parsed.data.customFields ?? {}, mapping)
    : fieldErrors(parsed.error);
  if (parsed.success && errors.length === 0) return { row: raw.row, input: parsed.data };
  return {
    row: raw.row,
    error: { row: raw.row, email: emailOf(raw.value), code: "validation_failed", errors },
  };
}

/** What an upsert has to do at Acme for one valid row. */
export type UpsertPlan =
  | { kind: "create"; body: AcmeWriteBody }
  | { kind: "update"; id: string; version: number; body: AcmeWriteBody }
  | { kind: "unchanged"; id: string };

/**
 * Compares a row with the contact Acme holds under its email (case-insensitive) and keeps only
 * what differs, so a row already in place costs no write and makes no new version. Fields the
 * row does not carry (absent CSV columns, custom fields it does not name) are left as they are.
 * Custom fields go under Acme's property names (`mapping`, the row checked against it).
 */
export function planUpsert(
  input: ContactInput,
  current: AcmeContact | null,
  mapping: readonly CustomFieldMapping[] = [],
): UpsertPlan {
  const wanted = mapToAcme(input);
  const custom = input.customFields ? customFieldsToAcme(input.customFields, mapping) : {};
  if (!current) {
    return {
      kind: "create",
      body: Object.keys(custom).length > 0 ? { ...wanted, acme_custom: custom } : wanted,
    };
  }
  const held = current.acme_custom ?? {};
  const changedCustom: AcmeCustomWrite = {};
  for (const [name, value] of Object.entries(custom)) {
    if ((Object.hasOwn(held, name) ? held[name] : null) !== value) changedCustom[name] = value;
  }
  const body: AcmeWriteBody = Object.keys(changedCustom).length > 0 ? { acme_custom: changedCustom } : {};
  for (const [field, value] of Object.entries(wanted)) {
    const have = (current as Record<string, unknown>)[field] ?? null;
    const same =
      field === "acme_email" && typeof value === "string" && typeof have === "string"
        ? value.toLowerCase() === have.toLowerCase()
        : have === value;
    if (!same) body[field] = value;
  }
  if (Object.keys(body).length === 0) return { kind: "unchanged", id: current.id };
  return { kind: "update", id: current.id, version: current.acme_version, body };
}
