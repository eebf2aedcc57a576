import type { z } from "zod";

export interface FieldError {
  field: string;
  message: string;
}

/**
 * Flattens zod issues into one entry per offending field, naming each unknown key on its own
 * so that clients see exactly which property to drop.
 */
export function fieldErrors(error: z.ZodError, rename: (field: string) => string = (f) => f): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const field = base ? `${base}.${key}` : key;
        out.push({ field: rename(field), message: "unknown field" });
      }
      continue;
    }
    out.push({ field: rename(base || "body"), message: issue.message });
  }
  return out;
}
