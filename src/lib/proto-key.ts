import { z } from "zod";

/**
 * `schema` (an object keyed by names the client picks), refusing a `__proto__` key with `message`
 * naming it: zod's records drop that key without a word (against prototype pollution), which would
 * accept a body naming something that cannot exist as if it named nothing.
 */
export function refuseProtoKey<T extends z.ZodType>(schema: T, message: string) {
  return z.preprocess((value, ctx) => {
    if (value && typeof value === "object" && Object.hasOwn(value, "__proto__")) {
      ctx.issues.push({ code: "custom", path: ["__proto__"], message, input: value });
    }
    return value;
  }, schema);
}
