// The one declarative mapping between the API's contact and Acme's, used in both directions
// (bodies, responses and field names inside error details).

export const CONTACT_FIELDS = [
  { api: "id", acme: "id", writable: false },
  { api: "firstName", acme: "acme_first_name", writable: true },
  { api: "lastName", acme: "acme_last_name", writable: true },
  { api: "email", acme: "acme_email", writable: true },
  { api: "phone", acme: "acme_phone", writable: true },
  { api: "company", acme: "acme_company", writable: true },
  { api: "title", acme: "acme_title", writable: true },
  { api: "notes", acme: "acme_notes", writable: true },
  { api: "version", acme: "acme_version", writable: false },
  { api: "createdAt", acme: "acme_created_at", writable: false },
  { api: "updatedAt", acme: "acme_updated_at", writable: false },
] as const;

type Field = (typeof CONTACT_FIELDS)[number];
export type ApiField = Field["api"];
export type AcmeField = Field["acme"];
export type WritableApiField = Extract<Field, { writable: true }>["api"];

const API_TO_ACME = new Map<string, string>(CONTACT_FIELDS.map((f) => [f.api, f.acme]));
const ACME_TO_API = new Map<string, string>(CONTACT_FIELDS.map((f) => [f.acme, f.api]));

/** API fields to Acme's, for writes; only writable fields present in `input` are carried. */
export function mapToAcme(
  input: Partial<Record<WritableApiField, string | null>>,
): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const field of CONTACT_FIELDS) {
    if (!field.writable) continue;
    const value = input[field.api as WritableApiField];
    if (value !== undefined) out[field.acme] = value;
  }
  return out;
}

/** Acme's contact to the API's; Acme fields the table does not name are dropped. */
export function fromAcme(acme: Record<string, unknown>): Record<ApiField, unknown> {
  const out = {} as Record<ApiField, unknown>;
  for (const field of CONTACT_FIELDS) out[field.api] = acme[field.acme] ?? null;
  return out;
}

/** Renames a field path from Acme's error details (`acme_email`) to the API's (`email`). */
export function acmeFieldToApi(path: string): string {
  const [head, ...rest] = path.split(".");
  const mapped = head === undefined ? undefined : ACME_TO_API.get(head);
  return mapped ? [mapped, ...rest].join(".") : path;
}

export function apiFieldToAcme(field: string): string | undefined {
  return API_TO_ACME.get(field);
}
