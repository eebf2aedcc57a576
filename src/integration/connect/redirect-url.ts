import { classifyHost } from "../../lib/webhook-url-policy.ts";

/** The longest `redirectUrl` a connect session takes (characters). */
export const MAX_REDIRECT_URL_LENGTH = 2000;

// Written out plainly (the OpenAPI document states it as the field's pattern): a scheme, `//`, then no space, control character or backslash. URL parsing
// would repair those (`\` read as `/`, `https:host` as `https://host`, tabs dropped), so a URL that
// needs repairing is refused rather than reinterpreted.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
export const REDIRECT_URL_SPELLING = /^[Hh][Tt][Tt][Pp][Ss]?:\/\/[^\x00-\x20\x7f\\]+$/;

/**
 * Null when `raw` may be a connect session's `redirectUrl`, otherwise why not (a phrase to follow
 * "the URL"): an absolute https URL written out plainly, without credentials, at most
 * MAX_REDIRECT_URL_LENGTH characters. With `allowLoopback` (local dev) a loopback host
 * (127.0.0.1, localhost, [::1]) may use http as well; nothing else is relaxed. Refuses what
 * browsers would turn into another target (`javascript:`, `//evil`, `https:\\evil`, userinfo).
 * Never throws.
 */
export function redirectUrlProblem(raw: string, options: { allowLoopback: boolean }): string | null {
  if (raw.length > MAX_REDIRECT_URL_LENGTH) return `must be at most ${MAX_REDIRECT_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must use https";
  if (!REDIRECT_URL_SPELLING.test(raw)) {
    return "must be written as https://host/path, without spaces, control characters or backslashes";
  }
  if (url.username || url.password) return "must not contain credentials";
  const loopback = classifyHost(url.hostname) === "loopback";
  if (url.protocol === "http:" && !(options.allowLoopback && loopback)) return "must use https";
  if (loopback && !options.allowLoopback) return "must not point at this machine (loopback)";
  return null;
}

/** `redirectUrl` with `params` added to its query (existing ones kept, same names replaced). */
export function redirectWith(redirectUrl: string, params: Record<string, string>): string {
  const url = new URL(redirectUrl);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}
