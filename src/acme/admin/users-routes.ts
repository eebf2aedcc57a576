import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { newId } from "../../lib/ids.ts";
import { hashPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../auth/password.ts";
import { createAcmeRouter } from "../context.ts";
import { accountUsers, clients } from "../db/schema.ts";
import { AcmeError } from "../errors.ts";
import { acmeJsonBody } from "../json-body.ts";
import { ADMIN_ERROR_STATUSES, errorResponses } from "../openapi-schemas.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";

const UserCreateSchema = z
  .strictObject({
    email: z.email().max(254),
    password: z.string().min(PASSWORD_MIN_LENGTH).max(PASSWORD_MAX_LENGTH),
  })
  .openapi("AcmeAccountUserInput", {
    example: { email: "ada@example.com", password: "correct horse battery staple" },
  });

const UserSchema = z.object({ id: z.string(), email: z.string() }).openapi("AcmeAccountUser", {
  example: { id: "usr_01jd5x8m3q0000000000000000", email: "ada@example.com" },
});

export const userAdminRouter = createAcmeRouter().openapi(
  securedRoute({
    method: "post",
    path: "/admin/clients/{clientId}/users",
    tags: ["Admin"],
    summary: "Give an account a user who can sign in on the consent page",
    description:
      `Passwords are ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters, stored as salted ` +
      "PBKDF2-SHA256 (100,000 iterations). Emails are unique across Acme, ignoring case (409).",
    security: ADMIN_TOKEN,
    middleware: [acmeJsonBody] as const,
    request: {
      params: z.object({
        clientId: z
          .string()
          .min(1)
          .max(64)
          .openapi({ param: { name: "clientId", in: "path" }, example: "cl_01jd5x8m3q0000000000000000" }),
      }),
      body: { required: true, content: { "application/json": { schema: UserCreateSchema } } },
    },
    responses: {
      201: { description: "Created", content: { "application/json": { schema: UserSchema } } },
      ...errorResponses(...ADMIN_ERROR_STATUSES, 404, 409, 415),
    },
  }),
  async (c) => {
    const { clientId } = c.req.valid("param");
    const input = c.req.valid("json");
    const db = drizzle(c.env.ACME_DB);
    const account = await db.select({ id: clients.id }).from(clients).where(eq(clients.id, clientId)).get();
    if (!account) throw new AcmeError("not_found", `Account ${clientId} does not exist.`);
    const id = newId("usr");
    const inserted = await db
      .insert(accountUsers)
      .values({
        id,
        accountId: clientId,
        email: input.email,
        emailKey: input.email.toLowerCase(),
        passwordHash: await hashPassword(input.password),
        createdAt: new Date().toISOString(),
      })
      .onConflictDoNothing()
      .returning({ id: accountUsers.id })
      .get();
    if (!inserted) throw new AcmeError("duplicate_email", `A user with email ${input.email} already exists.`);
    return c.json({ id, email: input.email }, 201);
  },
);
