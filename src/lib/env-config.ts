import { z } from "zod";

/**
 * A loader of one part's settings from the Worker's `env`: validated with `schema` and shaped by
 * `build` once per env object (the same object for an isolate's life), then remembered. The
 * loader throws an Error naming every bad var: `invalid <part> configuration: NAME: message; ...`.
 */
export function configLoader<S extends z.ZodType, C>(
  part: string,
  schema: S,
  build: (vars: z.output<S>) => C,
): (env: Env) => C {
  const loaded = new WeakMap<object, C>();
  return (env) => {
    const cached = loaded.get(env);
    if (cached) return cached;
    const parsed = schema.safeParse(env);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      throw new Error(`invalid ${part} configuration: ${fields}`);
    }
    const config = build(parsed.data);
    loaded.set(env, config);
    return config;
  };
}

/** A boolean var as Wrangler passes it: "true"/"1" or "false"/"0" (anything else is refused). */
export const booleanString = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
