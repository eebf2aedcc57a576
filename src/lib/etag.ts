// Entity tags and the conditional request fields of RFC 9110 section 13.1: `If-Match` (strong
// comparison) and `If-None-Match` (weak comparison). Records here carry a version number, and
// their ETag is the strong tag `"<version>"`.

/** Strong ETag for a record version: `"<version>"`. */
export function formatEtag(version: number): string {
  return `"${version}"`;
}

/** One entity tag (RFC 9110 8.8.3): `opaque` is the text between the quotes. */
export interface EntityTag {
  weak: boolean;
  opaque: string;
}

/**
 * A well-formed `If-Match` or `If-None-Match` field: `*`, or a list of entity tags (which may
 * be empty: `#entity-tag` allows zero elements, and then nothing matches).
 */
export type EntityTagCondition = { kind: "any" } | { kind: "tags"; tags: EntityTag[] };

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text. Commas may sit
// inside the quotes, so the list is scanned tag by tag rather than split on commas.
const LIST_ELEMENT = /^[ \t]*(?:(W\/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(,|$)/;

/**
 * Exactly the values `parseEntityTagCondition` accepts, as one plain ECMA-262 expression that the
 * OpenAPI documents state as the fields' `pattern`: blank, `*` alone, or a comma-separated list of
 * entity tags whose elements may be empty (RFC 9110 5.6.1), spaces and tabs around each.
 * test/lib/etag.test.ts holds the two equal.
 */
export const ENTITY_TAG_CONDITION =
  /^(?:[ \t]*\*[ \t]*|(?:[ \t]*(?:(?:W\/)?"[\x21\x23-\x7e\x80-\xff]*"[ \t]*)?,)*[ \t]*(?:(?:W\/)?"[\x21\x23-\x7e\x80-\xff]*"[ \t]*)?)$/;

/**
 * Parses an `If-Match` or `If-None-Match` field value (RFC 9110 13.1.1, 13.1.2). Null when the
 * field is absent or blank (no precondition); "malformed" when it is neither `*` nor a list of
 * entity tags (`W/` is case-sensitive, quotes are required, `*` stands alone).
 */
export function parseEntityTagCondition(
  value: string | undefined | null,
): EntityTagCondition | "malformed" | null {
  if (value === undefined || value === null || /^[ \t]*$/.test(value)) return null;
  if (/^[ \t]*\*[ \t]*$/.test(value)) return { kind: "any" };
  const tags: EntityTag[] = [];
  let rest = value;
  for (;;) {
    const match = LIST_ELEMENT.exec(rest);
    if (!match) return "malformed";
    // RFC 9110 5.6.1: empty list elements ("a, , b") are accepted and count for nothing.
    if (match[2] !== undefined) tags.push({ weak: match[1] !== undefined, opaque: match[2] });
    rest = rest.slice(match[0].length);
    if (match[3] === "") return { kind: "tags", tags };
  }
}

/** The strong tag of a record version. */
export function versionTag(version: number): EntityTag {
  return { weak: false, opaque: String(version) };
}

/** Strong comparison (RFC 9110 8.8.3.2): both strong and character for character equal. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison (RFC 9110 8.8.3.2): equal opaque tags, weak or not. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

/**
 * RFC 9110 13.1.1: true when a write may proceed. `current` is the selected representation's
 * tag, null if there is none. `*` needs a current representation; a list needs one of its tags to
 * match strongly, so a weak tag never passes.
 */
export function ifMatchPasses(condition: EntityTagCondition | null, current: EntityTag | null): boolean {
  if (condition === null) return true;
  if (current === null) return false;
  return condition.kind === "any" || condition.tags.some((tag) => strongMatch(tag, current));
}

/**
 * RFC 9110 13.1.2: true when the request may proceed. False means 304 Not Modified for GET and
 * HEAD, 412 for other methods. `*` fails whenever a representation exists; a list fails when one
 * of its tags matches weakly.
 */
export function ifNoneMatchPasses(condition: EntityTagCondition | null, current: EntityTag | null): boolean {
  if (condition === null || current === null) return true;
  return condition.kind === "tags" && !condition.tags.some((tag) => weakMatch(tag, current));
}

/** What RFC 9110 13.2.2 says to do with a request's preconditions, evaluated in its order. */
export type PreconditionOutcome = "proceed" | "not_modified" | "precondition_failed";

/**
 * Evaluates `If-Match`, then `If-None-Match` (RFC 9110 13.2.2) against the current tag (null when
 * nothing exists). Callers answer 404 and the like first: preconditions only decide between the
 * normal answer, 304 (GET and HEAD) and 412.
 */
export function evaluatePreconditions(
  conditions: { ifMatch: EntityTagCondition | null; ifNoneMatch: EntityTagCondition | null },
  current: EntityTag | null,
  method: string,
): PreconditionOutcome {
  if (!ifMatchPasses(conditions.ifMatch, current)) return "precondition_failed";
  if (!ifNoneMatchPasses(conditions.ifNoneMatch, current)) {
    return method === "GET" || method === "HEAD" ? "not_modified" : "precondition_failed";
  }
  return "proceed";
}
