// D1's own limits (developers.cloudflare.com/d1/platform/limits), in one place.

/** D1 binds at most 100 parameters per statement. */
export const D1_MAX_BOUND_PARAMETERS = 100;

/** Splits `items` into runs of at most `size`, in order. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** How many rows of `parametersPerRow` bound values one statement may carry, `reserved` aside. */
export function rowsPerStatement(parametersPerRow: number, reserved = 0): number {
  return Math.floor((D1_MAX_BOUND_PARAMETERS - reserved) / parametersPerRow);
}
