import { ConsoleError } from "./errors.tsx";

/** The longest search text a list filter takes, in characters. */
export const MAX_SEARCH_LENGTH = 100;

/**
 * A list's search box value: trimmed text, or undefined when absent or blank. Throws ConsoleError
 * 400 when it is longer than MAX_SEARCH_LENGTH or holds control characters.
 */
export function searchText(value: string | undefined): string | undefined {
  const text = value?.trim() ?? "";
  if (text === "") return undefined;
  if (text.length > MAX_SEARCH_LENGTH) {
    throw new ConsoleError(400, `The search is too long: at most ${MAX_SEARCH_LENGTH} characters.`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses.
  if (/[\u0000-\u001f\u007f]/.test(text)) {
    throw new ConsoleError(400, "The search holds characters that cannot be typed.");
  }
  return text;
}

/**
 * A list's choice filter (a <select>): one of `allowed`, or undefined when absent or empty (all).
 * Throws ConsoleError 400, naming the choices, for any other value.
 */
export function choice<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  what: string,
): T | undefined {
  if (value === undefined || value === "") return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConsoleError(400, `There is no such ${what}; choose one of ${allowed.join(", ")}.`);
}

/** `path` with the query parameters that have a value (empty and undefined ones left out). */
export function withQuery(path: string, params: Record<string, string | number | undefined | null>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
