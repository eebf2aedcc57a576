// The rules of a custom property's value, shared by the mock Acme (which stores them) and the
// integration (which checks a write against the mapped property before calling Acme): the same
// rules in both places, so a value one accepts the other does too.

/** The kinds of custom property. */
export type CustomValueType = "string" | "number" | "boolean" | "date" | "enumeration";

/** What a value is checked against: the property's type and, for an enumeration, its options. */
export interface CustomValueRule {
  type: CustomValueType;
  options?: readonly string[] | null | undefined;
}

/** The longest `string` value, in characters. */
export const MAX_CUSTOM_STRING_LENGTH = 1_000;

const CALENDAR_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `text` is an ISO 8601 calendar date `YYYY-MM-DD` that exists (no 2026-02-30). */
export function isCalendarDate(text: string): boolean {
  const match = CALENDAR_DATE.exec(text);
  if (!match) return false;
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: that one reads years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Why `value` is not one a property of `rule` may hold (a sentence for a field error), or null if
 * it is: a well-formed string of at most MAX_CUSTOM_STRING_LENGTH characters, a finite number,
 * `true` or `false` (not "true"), a calendar date `YYYY-MM-DD`, or one of an enumeration's options.
 */
export function customValueProblem(rule: CustomValueRule, value: unknown): string | null {
  switch (rule.type) {
    case "string":
      return typeof value === "string" && value.length <= MAX_CUSTOM_STRING_LENGTH && value.isWellFormed()
        ? null
        : `must be a string of at most ${MAX_CUSTOM_STRING_LENGTH} characters (well-formed Unicode)`;
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? null : "must be a finite number";
    case "boolean":
      return typeof value === "boolean" ? null : "must be true or false";
    case "date":
      return typeof value === "string" && isCalendarDate(value) ? null : "must be a date as YYYY-MM-DD";
    case "enumeration": {
      const options = rule.options ?? [];
      if (typeof value === "string" && options.includes(value)) return null;
      const shown = options.slice(0, 10).map((o) => JSON.stringify(o));
      return `must be one of the options: ${shown.join(", ")}${options.length > 10 ? ", ..." : ""}`;
    }
  }
}
