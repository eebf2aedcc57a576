import { z } from "@hono/zod-openapi";
import { CUSTOM_PROPERTY_TYPES } from "../db/schema.ts";
import {
  MAX_ENUMERATION_OPTIONS,
  MAX_LABEL_LENGTH,
  MAX_OPTION_LENGTH,
  MAX_PROPERTIES_PER_ACCOUNT,
  PROPERTY_NAME_PATTERN,
} from "./limits.ts";

const NAME_RULE = "a lowercase letter, then up to 62 lowercase letters, digits or underscores";

const propertyName = z
  .string()
  .regex(PROPERTY_NAME_PATTERN, `must be ${NAME_RULE}`)
  .openapi({ example: "contract_tier", description: `The key in a contact's acme_custom: ${NAME_RULE}` });

const label = z
  .string()
  .min(1)
  .max(MAX_LABEL_LENGTH)
  .openapi({ example: "Contract tier", description: `What people see: 1 to ${MAX_LABEL_LENGTH} characters` });

const options = z
  .array(z.string().min(1).max(MAX_OPTION_LENGTH))
  .min(1)
  .max(MAX_ENUMERATION_OPTIONS)
  .superRefine((values, ctx) => {
    const seen = new Set<string>();
    for (const [index, value] of values.entries()) {
      if (seen.has(value))
        ctx.addIssue({ code: "custom", path: [index], message: "repeats an earlier option" });
      seen.add(value);
    }
  })
  .openapi({
    uniqueItems: true,
    example: ["bronze", "silver", "gold"],
    description:
      `The values an enumeration takes: 1 to ${MAX_ENUMERATION_OPTIONS} unique strings of 1 to ` +
      `${MAX_OPTION_LENGTH} characters`,
  });

const SCALAR_TYPES = ["string", "number", "boolean", "date"] as const;

export const PropertyCreateSchema = z
  .discriminatedUnion("type", [
    z.strictObject({ name: propertyName, label, type: z.enum(SCALAR_TYPES) }).openapi({
      description: "`date` values are ISO 8601 calendar dates, YYYY-MM-DD",
      example: { name: "renewal_date", label: "Renewal date", type: "date" },
    }),
    z.strictObject({ name: propertyName, label, type: z.literal("enumeration"), options }).openapi({
      example: {
        name: "contract_tier",
        label: "Contract tier",
        type: "enumeration",
        options: ["silver", "gold"],
      },
    }),
  ])
  .openapi("AcmePropertyInput", {
    description:
      `A new custom property. An account may have ${MAX_PROPERTIES_PER_ACCOUNT} (archived ones count: ` +
      "they keep their name and their values on contacts); a name the account already has, archived or not, is 409.",
    example: {
      name: "contract_tier",
      label: "Contract tier",
      type: "enumeration",
      options: ["silver", "gold"],
    },
  });

export type PropertyInput = z.infer<typeof PropertyCreateSchema>;

const PROPERTY_EXAMPLE = {
  name: "contract_tier",
  label: "Contract tier",
  type: "enumeration" as const,
  options: ["bronze", "silver", "gold"],
  archived: false,
};

export const PropertySchema = z
  .object({
    name: z.string(),
    label: z.string(),
    type: z.enum(CUSTOM_PROPERTY_TYPES),
    options: z.array(z.string()).optional().openapi({ description: "Only on an enumeration: its values" }),
    archived: z.boolean().openapi({
      description:
        "An archived property takes no new values; what contacts hold stays readable in acme_custom",
    }),
  })
  .openapi("AcmeProperty", { example: PROPERTY_EXAMPLE });

export type AcmeProperty = z.infer<typeof PropertySchema>;

export const PropertyListSchema = z
  .object({
    results: z.array(PropertySchema).openapi({
      description: `Every property of the account, archived ones included, by name (at most ${MAX_PROPERTIES_PER_ACCOUNT})`,
    }),
  })
  .openapi("AcmePropertyList", {
    example: {
      results: [
        PROPERTY_EXAMPLE,
        { name: "renewal_date", label: "Renewal date", type: "date", archived: false },
        { name: "seats", label: "Seats", type: "number", archived: true },
      ],
    },
  });

export const PropertyListQuerySchema = z.strictObject({});

export const PropertyNameParamsSchema = z.object({
  name: propertyName.openapi({ param: { name: "name", in: "path" } }),
});
