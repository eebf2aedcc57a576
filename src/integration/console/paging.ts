/**
 * Keyset paging: a query asks for `size + 1` rows; the extra row only says another page exists,
 * whose cursor is the last shown row's key.
 */
export function keysetPage<T, C>(
  rows: T[],
  size: number,
  cursorOf: (row: T) => C,
): { data: T[]; next: C | null } {
  const data = rows.slice(0, size);
  const last = data[data.length - 1];
  return { data, next: rows.length > size && last !== undefined ? cursorOf(last) : null };
}
