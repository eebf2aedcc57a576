// A `datetime-local` input read as UTC: the console states its times in UTC, whatever the browser's zone.

const DATETIME_LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/** An instant (epoch ms) as a `datetime-local` value in UTC, to the second. */
export function utcDateTimeValue(at: number): string {
  return new Date(at).toISOString().slice(0, 19);
}

/**
 * A `datetime-local` value (`YYYY-MM-DDTHH:MM`, optionally with seconds) read as UTC: the instant
 * as ISO text, or a sentence saying what is wrong with it. A time after `now` is refused: nothing
 * has been recorded since then.
 */
export function parseUtcDateTime(value: string, now: number): { iso: string } | { problem: string } {
  if (value === "") return { problem: "Enter the date and time (UTC) to send again from." };
  const match = DATETIME_LOCAL.exec(value);
  if (!match) {
    return { problem: "Enter the date and time as YYYY-MM-DDTHH:MM, in UTC (for example 2026-02-01T16:00)." };
  }
  const [year, month, day, hour, minute, second, millis] = [
    match[1],
    match[2],
    match[3],
    match[4],
    match[5],
    match[6] ?? "0",
    (match[7] ?? "0").padEnd(3, "0"),
  ].map(Number) as [number, number, number, number, number, number, number];
  const at = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const date = new Date(at);
  // Date.UTC rolls 31 February over into March and 24:00 into the next day: no such time exists.
  const exists =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() + 1 === month &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  if (!exists) return { problem: `There is no such date and time: ${value}.` };
  if (at > now) return { problem: "That time is in the future: nothing has been recorded since then." };
  return { iso: date.toISOString() };
}
