// Text that is not valid Unicode changes on its way through: a lone surrogate (JSON can spell
// one, "\ud800") becomes U+FFFD when stored as UTF-8, so what was stored is not what was sent.
// I-JSON (RFC 7493 section 2.1) forbids such strings; so do these checks, at the edge.

/**
 * The dotted path (as validation errors name fields, e.g. `events.0`) of the first string or
 * object key in a parsed JSON value that is not well-formed UTF-16, or null if all are. A bad key
 * is named by its parent's path (`body` at the top), since the key itself cannot be shown.
 */
export function illFormedTextPath(value: unknown, path: string[] = []): string | null {
  if (typeof value === "string") return value.isWellFormed() ? null : path.join(".") || "body";
  if (typeof value !== "object" || value === null) return null;
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [String(index), item])
    : Object.entries(value);
  for (const [key, item] of entries) {
    if (!key.isWellFormed()) return path.join(".") || "body";
    const found = illFormedTextPath(item, [...path, key]);
    if (found !== null) return found;
  }
  return null;
}

function decodeComponent(component: string): string | null {
  try {
    // decodeURIComponent throws on malformed escapes and on UTF-8 that does not decode to a
    // Unicode scalar value (overlong forms, encoded surrogates such as %ED%A0%80).
    return decodeURIComponent(component.replace(/\+/g, " "));
  } catch {
    return null;
  }
}

/**
 * The name-value pairs of `application/x-www-form-urlencoded` text (a query string without its
 * `?`, or a form body), decoded strictly: where URLSearchParams would turn escapes that are not
 * UTF-8 into U+FFFD (and Hono would leave them as they are), this reports the first parameter
 * that has one, by its decoded name (or as written, if the name itself does not decode).
 */
export function decodeForm(text: string): { pairs: [string, string][] } | { illFormed: string } {
  const pairs: [string, string][] = [];
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    const rawName = equals < 0 ? pair : pair.slice(0, equals);
    const name = decodeComponent(rawName);
    if (name === null) return { illFormed: rawName };
    const value = decodeComponent(equals < 0 ? "" : pair.slice(equals + 1));
    if (value === null) return { illFormed: name };
    pairs.push([name, value]);
  }
  return { pairs };
}

/**
 * The name of the first query parameter of `url` whose name or value is not valid
 * percent-encoded UTF-8, or null (see decodeForm).
 */
export function illFormedQueryParameter(url: string): string | null {
  const start = url.indexOf("?");
  if (start < 0) return null;
  const end = url.indexOf("#", start);
  const decoded = decodeForm(url.slice(start + 1, end < 0 ? undefined : end));
  return "illFormed" in decoded ? decoded.illFormed : null;
}

/** `bytes` as UTF-8 text, or null if they are not valid UTF-8 (a BOM is dropped). */
export function decodeUtf8(bytes: Uint8Array | ArrayBuffer): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
}
