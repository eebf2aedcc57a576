import { z } from "@hono/zod-openapi";

/** The product's own id for a customer: printable ASCII, as it goes into URLs and connect sessions. */
export const EndUserIdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
  .openapi({ example: "user_4711" });
