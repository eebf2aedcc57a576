import type { CustomFieldMapping } from "../contacts/mapping.ts";
import type { AcmeProperty } from "../field-mappings/acme-properties.ts";
import { CsrfField, ScrollTable } from "./layout.tsx";
import type { OperatorSignIn } from "./operator-cookie.ts";

export function customFieldsPath(connectionId: string): string {
  return `/console/connections/${connectionId}/custom-fields`;
}

/** The form's field of an Acme property: its API name (blank: not mapped). */
export const FIELD_PREFIX = "field.";

/** One row of the mapping form: an Acme property (null when Acme could not be asked), and what it is mapped as. */
export interface MappingRow {
  remote: string;
  property: AcmeProperty | null;
  /** The API name in the form (as typed, or as stored). */
  apiName: string;
  error?: string | undefined;
}

function PropertyType({ property }: { property: AcmeProperty | null }) {
  if (!property) return <span class="muted">unknown</span>;
  if (property.type !== "enumeration") return <code>{property.type}</code>;
  return (
    <>
      <code>enumeration</code>: {(property.options ?? []).join(", ")}
    </>
  );
}

/**
 * The mapping as a form: one row per Acme property, its API name editable (blank maps nothing).
 * An archived property can be left mapped or unmapped, not mapped anew; each problem sits on its row.
 */
export function MappingForm(props: { action: string; operator: OperatorSignIn; rows: MappingRow[] }) {
  if (props.rows.length === 0) {
    return (
      <p>
        The connection's Acme account defines no custom properties yet: define them at Acme, then map them
        here.
      </p>
    );
  }
  return (
    <form method="post" action={props.action} id="field-mapping">
      <CsrfField operator={props.operator} />
      <ScrollTable label="Acme properties and their custom fields">
        <thead>
          <tr>
            <th scope="col">Acme property</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Custom field (API name)</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => {
            const id = `${FIELD_PREFIX}${row.remote}`;
            const archived = row.property?.archived ?? false;
            const locked = archived && row.apiName === "";
            return (
              <tr data-remote={row.remote}>
                <th scope="row">
                  <code>{row.remote}</code>
                  {row.property ? <span class="muted"> {row.property.label}</span> : null}
                </th>
                <td>
                  <PropertyType property={row.property} />
                </td>
                <td>{row.property === null ? "not found at Acme" : archived ? "archived" : "live"}</td>
                <td>
                  <label for={id} class="visually-hidden">
                    Custom field for {row.remote}
                  </label>
                  <input
                    id={id}
                    name={id}
                    value={row.apiName}
                    maxlength={64}
                    placeholder={locked ? "archived: cannot be mapped" : "not mapped"}
                    disabled={locked}
                    aria-invalid={row.error ? "true" : undefined}
                    aria-describedby={row.error ? `${id}-error` : undefined}
                  />
                  {row.error ? (
                    <p class="error" id={`${id}-error`}>
                      {row.error}
                    </p>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </ScrollTable>
      <p class="hint">
        A lowercase letter, then up to 63 letters or digits; not a contact field's name. Applies at once.
      </p>
      <button type="submit">Save the mapping</button>
    </form>
  );
}

/** The mapping as stored, when Acme cannot be asked for its properties. */
export function StoredMapping({ mapping }: { mapping: readonly CustomFieldMapping[] }) {
  if (mapping.length === 0) return <p>No custom fields are mapped.</p>;
  return (
    <ScrollTable label="Mapped custom fields">
      <thead>
        <tr>
          <th scope="col">Custom field</th>
          <th scope="col">Acme property</th>
          <th scope="col">Type</th>
        </tr>
      </thead>
      <tbody>
        {mapping.map((m) => (
          <tr>
            <th scope="row">
              <code>{m.apiName}</code>
            </th>
            <td>
              <code>{m.remote}</code>
            </td>
            <td>
              <code>{m.type}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </ScrollTable>
  );
}
