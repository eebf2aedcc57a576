import Papa from "papaparse";
import { decodeUtf8 } from "../../lib/unicode-text.ts";
import type { FieldError } from "../../lib/validation.ts";
import {
  CONTACT_FIELDS,
  type CustomFieldMapping,
  type CustomValue,
  REQUIRED_FIELDS,
} from "../contacts/mapping.ts";
import { ApiError } from "../errors.ts";

/** The most rows one import may hold (413 beyond). */
export const MAX_IMPORT_ROWS = 10_000;

/** The body formats an import accepts, by media type. */
export const IMPORT_MEDIA_TYPES = ["text/csv", "application/x-ndjson", "application/json"] as const;
export type ImportMediaType = (typeof IMPORT_MEDIA_TYPES)[number];

/**
 * One row as sent, before validation: an object for a well-formed row, or the reason it could
 * not even be read as one (a CSV line with the wrong number of fields). Row numbers are 1-based
 * over the data rows (a CSV header is not counted).
 */
export type RawRow =
  | { row: number; value: unknown }
  | { row: number; unreadable: FieldError[] }
  /** A valid row whose email a later valid row of the file also has: that row is imported instead. */
  | { row: number; email: string; duplicateOf: number };

const WRITABLE = new Set<string>(CONTACT_FIELDS.filter((f) => f.writable).map((f) => f.api));
/** Required columns keep an empty cell as "" for the contact schema to judge; an optional one means null. */
const REQUIRED = new Set<string>(REQUIRED_FIELDS);

function tooMany(count: number): ApiError {
  return new ApiError(
    "payload_too_large",
    `An import holds at most ${MAX_IMPORT_ROWS} rows; this one has ${count} or more.`,
  );
}

function malformed(detail: string, errors: FieldError[]): ApiError {
  return new ApiError("validation_failed", detail, { errors });
}

/** The media type of a Content-Type header, if it is one an import accepts. */
export function importMediaType(header: string | undefined): ImportMediaType | null {
  const type = header?.split(";")[0]?.trim().toLowerCase();
  return (IMPORT_MEDIA_TYPES as readonly string[]).includes(type ?? "") ? (type as ImportMediaType) : null;
}

/**
 * Every line break outside a quoted field as LF: a file whose lines end in CRLF, LF or CR, mixed
 * (files pasted together), parses the same, with no carriage return left at the end of a line's
 * last cell. Breaks inside quoted fields are part of the value and kept as sent.
 */
export function normalizeLineBreaks(text: string): string {
  let out = "";
  let quoted = false;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') quoted = !quoted;
    else if (char === "\r" && !quoted) {
      out += `${text.slice(from, i)}\n`;
      if (text[i + 1] === "\n") i++;
      from = i + 1;
    }
  }
  return out + text.slice(from);
}

/** A CSV column of a custom field: `customFields.<name>`. */
const CUSTOM_COLUMN = "customFields.";

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A CSV cell of a custom field as the value its mapped property takes: a number or a boolean read
 * from its text (`true`/`false` in any case), other types as the text; an empty cell is null (it
 * clears the value). Text that is not of the type stays text, for the row's check to name.
 */
function customCell(cell: string, field: CustomFieldMapping): CustomValue | null {
  if (cell === "") return null;
  const text = cell.trim();
  if (field.type === "number" && NUMBER.test(text)) return Number(text);
  if (field.type === "boolean" && /^(true|false)$/i.test(text)) return text.toLowerCase() === "true";
  return cell;
}

/**
 * CSV (RFC 4180) with a header row naming API fields, and `customFields.<name>` for the
 * connection's custom fields. Empty optional cells mean null; a quoting error makes the whole file
 * unreadable (400), as does a column that names no field (a custom one the connection does not
 * map included); a line with the wrong number of fields fails alone.
 */
function parseCsv(text: string, mapping: readonly CustomFieldMapping[]): RawRow[] {
  const result = Papa.parse<Record<string, string>>(normalizeLineBreaks(text), {
    header: true,
    delimiter: ",",
    newline: "\n",
    skipEmptyLines: "greedy",
    transformHeader: (h) => h.trim(),
  });
  const fatal = result.errors.find((e) => e.type === "Quotes");
  if (fatal) {
    throw malformed("The CSV is malformed.", [
      { field: "body", message: `row ${(fatal.row ?? 0) + 1}: ${fatal.message}` },
    ]);
  }
  const header = result.meta.fields ?? [];
  const custom = new Map(mapping.map((m) => [`${CUSTOM_COLUMN}${m.apiName}`, m]));
  const unknown = header.filter((h) => !WRITABLE.has(h) && !custom.has(h));
  if (unknown.length > 0 || !header.includes("email")) {
    throw malformed("The CSV header must name API fields, email among them.", [
      ...unknown.map((field) => ({
        field,
        message: field.startsWith(CUSTOM_COLUMN)
          ? "not a custom field of this connection (GET /api/v1/field-mappings)"
          : "unknown field",
      })),
      ...(header.includes("email") ? [] : [{ field: "email", message: "missing from the header row" }]),
    ]);
  }
  if (result.data.length > MAX_IMPORT_ROWS) throw tooMany(result.data.length);
  const mismatched = new Map<number, string>();
  for (const error of result.errors) {
    if (error.type === "FieldMismatch" && error.row !== undefined) mismatched.set(error.row, error.message);
  }
  return result.data.map((record, index) => {
    const row = index + 1;
    const mismatch = mismatched.get(index);
    if (mismatch) return { row, unreadable: [{ field: "row", message: mismatch }] };
    const value: Record<string, unknown> = {};
    const customFields: Record<string, CustomValue | null> = {};
    for (const field of header) {
      const cell = record[field] ?? "";
      const mapped = custom.get(field);
      if (mapped) customFields[mapped.apiName] = customCell(cell, mapped);
      else value[field] = cell === "" && !REQUIRED.has(field) ? null : cell;
    }
    if (Object.keys(customFields).length > 0) value.customFields = customFields;
    return { row, value };
  });
}

/** One JSON value per non-blank line; a line that is not JSON makes the body unreadable (400). */
function parseNdjson(text: string): RawRow[] {
  const rows: RawRow[] = [];
  // A raw CR cannot be inside a JSON value (strings escape it), so every CR, LF or CRLF ends a line.
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]?.trim() ?? "";
    if (line === "") continue;
    if (rows.length >= MAX_IMPORT_ROWS) throw tooMany(rows.length + 1);
    try {
      rows.push({ row: rows.length + 1, value: JSON.parse(line) });
    } catch (error) {
      throw new ApiError(
        "invalid_json",
        `Line ${i + 1} is not valid JSON: ${error instanceof Error ? error.message : "not JSON"}`,
      );
    }
  }
  return rows;
}

function parseJson(text: string): RawRow[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      "invalid_json",
      `The body is not valid JSON: ${error instanceof Error ? error.message : "not JSON"}`,
    );
  }
  const contacts = (body as { contacts?: unknown } | null)?.contacts;
  if (typeof body !== "object" || body === null || Array.isArray(body) || !Array.isArray(contacts)) {
    throw malformed('The body must be {"contacts": [...]}.', [
      { field: "contacts", message: "must be an array of contacts" },
    ]);
  }
  const extra = Object.keys(body).filter((k) => k !== "contacts");
  if (extra.length > 0) {
    throw malformed(
      "The body has unknown fields.",
      extra.map((field) => ({ field, message: "unknown field" })),
    );
  }
  if (contacts.length > MAX_IMPORT_ROWS) throw tooMany(contacts.length);
  return contacts.map((value, index) => ({ row: index + 1, value }));
}

/**
 * Reads an import body (bytes, UTF-8) into rows; a CSV's custom-field columns are read by the
 * connection's `mapping`. Throws ApiError: 400 `validation_failed` naming
 * `body` for bytes that are not UTF-8 (the whole body is refused: U+FFFD would be stored in their
 * place), 400 `invalid_json` or `validation_failed` for a body that cannot be read at all (or has
 * no rows), 413 for more than MAX_IMPORT_ROWS rows.
 */
export function parseImport(
  type: ImportMediaType,
  bytes: Uint8Array,
  mapping: readonly CustomFieldMapping[] = [],
): RawRow[] {
  const text = decodeUtf8(bytes);
  if (text === null) {
    throw malformed("The body is not UTF-8.", [
      { field: "body", message: "must be UTF-8 text (found bytes that are not)" },
    ]);
  }
  const rows =
    type === "text/csv"
      ? parseCsv(text, mapping)
      : type === "application/x-ndjson"
        ? parseNdjson(text)
        : parseJson(text);
  if (rows.length === 0) {
    throw malformed("The import holds no rows.", [
      { field: "body", message: "at least one row is required" },
    ]);
  }
  return rows;
}
