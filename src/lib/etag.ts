/** Strong ETag for a record version: `"<version>"`. */
export function formatEtag(version: number): string {
  return `"${version}"`;
}

export type IfMatch = { kind: "any" } | { kind: "versions"; versions: number[] } | { kind: "invalid" };

/** Parses `If-Match` (RFC 9110 13.1.1); weak tags never match, so they count as invalid here. */
export function parseIfMatch(header: string | undefined | null): IfMatch | null {
  if (header === undefined || header === null || header.trim() === "") return null;
  if (header.trim() === "*") return { kind: "any" };
  const versions: number[] = [];
  for (const part of header.split(",")) {
    const match = /^\s*"(\d{1,15})"\s*$/.exec(part);
    if (!match?.[1]) return { kind: "invalid" };
    versions.push(Number(match[1]));
  }
  return { kind: "versions", versions };
}

export function ifMatchAllows(ifMatch: IfMatch | null, version: number): boolean {
  if (ifMatch === null || ifMatch.kind === "any") return true;
  if (ifMatch.kind === "invalid") return false;
  return ifMatch.versions.includes(version);
}
