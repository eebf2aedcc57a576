import { z } from "@hono/zod-openapi";

const DECIMAL_DIGITS = /^[0-9]+$/;

/**
 * A non-negative integer query parameter, as its document states it: decimal digits only, within
 * `min`..`max`, `fallback` when absent. An empty value (`?after=`) or any other spelling ("abc",
 * "1e2", " 5") is refused like a wrong number, so the request fails validation naming the
 * parameter instead of silently meaning 0 (what `z.coerce.number()` makes of "").
 */
export function queryInteger(bounds: { min: number; max?: number; fallback: number }) {
  let value = z.number().int().min(bounds.min);
  if (bounds.max !== undefined) value = value.max(bounds.max);
  return z.preprocess(
    (raw) => (typeof raw === "string" && DECIMAL_DIGITS.test(raw) ? Number(raw) : raw),
    value.default(bounds.fallback),
  );
}
