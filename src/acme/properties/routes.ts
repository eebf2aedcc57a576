import { jsonRequestBody, jsonResponse } from "../../lib/openapi.ts";
import { requireScope } from "../auth/bearer.ts";
import { createAcmeRouter } from "../context.ts";
import { acmeJsonBody } from "../json-body.ts";
import { errorResponses, V1_ERROR_STATUSES } from "../openapi-schemas.ts";
import { accessToken, securedRoute } from "../secured-route.ts";
import {
  MAX_CUSTOM_BYTES,
  MAX_ENUMERATION_OPTIONS,
  MAX_OPTION_LENGTH,
  MAX_PROPERTIES_PER_ACCOUNT,
  MAX_STRING_VALUE_LENGTH,
} from "./limits.ts";
import { PropertyRepository } from "./repository.ts";
import {
  PropertyCreateSchema,
  PropertyListQuerySchema,
  PropertyListSchema,
  PropertyNameParamsSchema,
  PropertySchema,
} from "./schemas.ts";

const repository = (env: Env, accountId: string) => new PropertyRepository(env.ACME_DB, accountId);

const TAG = "Custom properties";

export const propertyRouter = createAcmeRouter()
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/properties",
      tags: [TAG],
      summary: "List the account's custom contact properties, archived ones included",
      description:
        "Every property, by name, in one response: an account has at most " +
        `${MAX_PROPERTIES_PER_ACCOUNT}. Contacts hold their values in \`acme_custom\`: a \`string\` up to ` +
        `${MAX_STRING_VALUE_LENGTH} characters, a finite \`number\`, a \`boolean\`, a \`date\` (YYYY-MM-DD) or ` +
        `one of an \`enumeration\`'s options; a contact's \`acme_custom\` takes at most ${MAX_CUSTOM_BYTES} bytes as JSON.`,
      security: accessToken(),
      middleware: [requireScope("contacts.read")] as const,
      request: { query: PropertyListQuerySchema },
      responses: {
        200: jsonResponse("The account's properties", PropertyListSchema),
        ...errorResponses(...V1_ERROR_STATUSES),
      },
    }),
    async (c) => {
      return c.json({ results: await repository(c.env, c.var.client.accountId).list() }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/properties",
      tags: [TAG],
      summary: "Create a custom contact property",
      description:
        "400 names the field that breaks a rule: `name` (pattern), `label` (1 to 100 characters), `type`, " +
        `\`options\` (an enumeration's: 1 to ${MAX_ENUMERATION_OPTIONS} unique strings of 1 to ${MAX_OPTION_LENGTH} ` +
        "characters; no other type takes any). 409 `duplicate_property` for a name the account has, archived " +
        `or not; 409 \`property_limit_reached\` once it has ${MAX_PROPERTIES_PER_ACCOUNT} (archived ones count).`,
      security: accessToken(),
      middleware: [requireScope("contacts.write"), acmeJsonBody] as const,
      request: { body: jsonRequestBody(PropertyCreateSchema) },
      responses: {
        201: jsonResponse("Created", PropertySchema),
        ...errorResponses(...V1_ERROR_STATUSES, 409, 415),
      },
    }),
    async (c) => {
      const property = await repository(c.env, c.var.client.accountId).create(c.req.valid("json"));
      return c.json(property, 201);
    },
  )
  .openapi(
    securedRoute({
      method: "delete",
      path: "/v1/properties/{name}",
      tags: [TAG],
      summary: "Archive a custom property",
      description:
        "The property takes no new values; the values contacts hold stay readable in `acme_custom` and " +
        "can be sent back unchanged (a PUT keeps them), but not changed or cleared. Its name stays " +
        "taken and it still counts toward the account's properties. Archiving again is a no-op (204).",
      security: accessToken(),
      middleware: [requireScope("contacts.write")] as const,
      request: { params: PropertyNameParamsSchema },
      responses: {
        204: { description: "Archived" },
        ...errorResponses(...V1_ERROR_STATUSES, 404),
      },
    }),
    async (c) => {
      await repository(c.env, c.var.client.accountId).archive(c.req.valid("param").name);
      return c.body(null, 204);
    },
  );
