import type { CustomFieldMapping } from "../contacts/mapping.ts";
import type { RawRow } from "./import-parser.ts";
import { checkRow } from "./import-row.ts";

/**
 * The rule for an email on several rows of one file: the last valid row with it is imported, and
 * each earlier valid one becomes a `duplicate_in_file` row error naming that row. (Importing them
 * all would write the email's contact once per row, each row undoing the one before, so running
 * the same file again would make new versions every time.) Emails compare case-insensitively, as
 * Acme matches them; invalid rows (by the connection's custom-field `mapping` too) keep their own
 * error and take no part.
 */
export function markDuplicateEmails(rows: RawRow[], mapping: readonly CustomFieldMapping[] = []): RawRow[] {
  const lastRowOf = new Map<string, number>();
  const marked = [...rows];
  for (let i = rows.length - 1; i >= 0; i--) {
    const raw = rows[i] as RawRow;
    const checked = checkRow(raw, mapping);
    if (!("input" in checked)) continue;
    const email = checked.input.email.toLowerCase();
    const kept = lastRowOf.get(email);
    if (kept === undefined) lastRowOf.set(email, raw.row);
    else marked[i] = { row: raw.row, email: checked.input.email, duplicateOf: kept };
  }
  return marked;
}
