// The integration reads Acme's contact through its own schema, derived from its mapping table,
// and never imports the mock's code. This test (tests may import both sides) proves the two
// descriptions of Acme's contact agree, so neither can drift alone.
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  ContactSchema as AcmeOwnContactSchema,
  ContactCreateSchema as AcmeOwnCreateSchema,
} from "../../src/acme/contacts/schemas.ts";
import { AcmeContactSchema } from "../../src/integration/contacts/acme-contact-schema.ts";
import { CONTACT_FIELDS } from "../../src/integration/contacts/mapping.ts";
import { ACME_CONTACT } from "./helpers.ts";

const ours = AcmeContactSchema.shape as Record<string, z.ZodType>;
const acmes = AcmeOwnContactSchema.shape as Record<string, z.ZodType>;

/** Values of each JSON kind a field could hold, the wrong ones included. */
const SAMPLES: unknown[] = [
  null,
  "",
  "ct_1",
  "ada@example.com",
  "2024-01-01T00:00:00.000Z",
  0,
  3,
  -1,
  1.5,
  true,
  {},
  [],
];

/** Acme may send a contact without names, and always says whether it is deleted and what custom values it holds. */
const validAtAcme = { ...ACME_CONTACT, acme_first_name: null, acme_deleted_at: null, acme_custom: {} };

/** Custom values are mapped per connection (field mappings), not by the fixed mapping table. */
const MAPPED_PER_CONNECTION = ["acme_custom"];

describe("the integration's view of Acme's contact agrees with Acme's own schema", () => {
  it("names exactly the fields Acme's contact has", () => {
    expect(Object.keys(ours).sort()).toEqual(Object.keys(acmes).sort());
  });

  it("accepts and refuses the same values in every field: type and nullability agree", () => {
    for (const [field, acme] of Object.entries(acmes)) {
      const integration = ours[field];
      for (const value of SAMPLES) {
        expect({ field, value, accepted: integration?.safeParse(value).success }).toEqual({
          field,
          value,
          accepted: acme.safeParse(value).success,
        });
      }
    }
  });

  it("maps exactly the fields Acme lets a client write, and treats the rest as read-only", () => {
    const writable = CONTACT_FIELDS.filter((f) => f.writable).map((f) => f.acme);
    const fixed = Object.keys(AcmeOwnCreateSchema.shape).filter((f) => !MAPPED_PER_CONNECTION.includes(f));
    expect(writable.sort()).toEqual(fixed.sort());
  });

  it("reads a contact Acme's schema accepts, and refuses one Acme's schema refuses", () => {
    expect(AcmeOwnContactSchema.safeParse(validAtAcme).success).toBe(true);
    expect(AcmeContactSchema.safeParse(validAtAcme).success).toBe(true);
    for (const broken of [
      { ...validAtAcme, acme_email: null },
      { ...validAtAcme, acme_version: "3" },
      (({ acme_updated_at: _, ...rest }) => rest)(validAtAcme),
    ]) {
      expect(AcmeOwnContactSchema.safeParse(broken).success).toBe(false);
      expect(AcmeContactSchema.safeParse(broken).success).toBe(false);
    }
  });
});
