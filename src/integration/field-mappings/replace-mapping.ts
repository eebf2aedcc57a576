import type { FieldError } from "../../lib/validation.ts";
import { connectionData } from "../connection-data/stub.ts";
import { type CustomFieldMapping, RESERVED_FIELD_NAMES } from "../contacts/mapping.ts";
import { ApiError } from "../errors.ts";
import type { AcmeProperty } from "./acme-properties.ts";
import { rememberMapping } from "./connection-mapping.ts";

/** A mapping as a client asks for it: each custom field's Acme property, by API name (the names already well-formed). */
export type RequestedMapping = Record<string, { remote: string }>;

/** 400 for names the API keeps for itself and for an Acme property mapped twice; nothing asked of Acme yet. */
function namingProblems(requested: RequestedMapping): FieldError[] {
  const problems: FieldError[] = [];
  const mappedBy = new Map<string, string>();
  for (const [apiName, { remote }] of Object.entries(requested)) {
    if (RESERVED_FIELD_NAMES.has(apiName)) {
      problems.push({ field: `customFields.${apiName}`, message: "is one of the contact's own fields" });
    }
    const earlier = mappedBy.get(remote);
    if (earlier !== undefined) {
      problems.push({
        field: `customFields.${apiName}.remote`,
        message: `Acme property "${remote}" is already mapped by customFields.${earlier}`,
      });
    } else {
      mappedBy.set(remote, apiName);
    }
  }
  return problems;
}

/**
 * Replaces the connection's custom-field mapping with `requested`, checked first against the API's
 * own names (400 `validation_failed` naming each field, before Acme is asked) and then against the
 * connection's Acme properties, read live by `properties` (422 `unknown_remote_field` naming each
 * property the account does not have or has archived). A refused mapping changes nothing. Returns
 * the mapping as stored, which this isolate applies from now on.
 */
export async function replaceMapping(
  env: Env,
  connectionId: string,
  requested: RequestedMapping,
  properties: () => Promise<AcmeProperty[]>,
  memoryTtlMs: number,
): Promise<CustomFieldMapping[]> {
  const naming = namingProblems(requested);
  if (naming.length > 0) {
    throw new ApiError("validation_failed", "The mapping names fields the API cannot take.", {
      errors: naming,
    });
  }
  const byName = new Map((await properties()).map((p) => [p.name, p]));
  const unknown: FieldError[] = [];
  const unknownNames: string[] = [];
  const mapping: CustomFieldMapping[] = [];
  for (const [apiName, { remote }] of Object.entries(requested)) {
    const property = byName.get(remote);
    if (!property || property.archived) {
      unknownNames.push(remote);
      unknown.push({
        field: `customFields.${apiName}.remote`,
        message: property
          ? `Acme property "${remote}" is archived`
          : `Acme property "${remote}" does not exist in the connection's account`,
      });
      continue;
    }
    mapping.push({
      apiName,
      remote,
      type: property.type,
      options: property.options ?? null,
      label: property.label,
    });
  }
  if (unknown.length > 0) {
    throw new ApiError(
      "unknown_remote_field",
      `No such live Acme property: ${unknownNames.join(", ")} (see GET /api/v1/remote-fields).`,
      { errors: unknown },
    );
  }
  const stored = await connectionData(env, connectionId).replaceFieldMappings(connectionId, mapping);
  // Checked above, so never null; if it were, nothing changed, and that is an internal fault.
  if (stored === null) throw new Error("field mapping refused by the connection's object");
  rememberMapping(connectionId, stored, memoryTtlMs);
  return stored;
}
