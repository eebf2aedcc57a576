import { z } from "@hono/zod-openapi";
import { createAcmeRouter } from "../context.ts";
import { acmeJsonBody } from "../json-body.ts";
import { ADMIN_ERROR_STATUSES, errorResponses } from "../openapi-schemas.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";
import { FaultProfileSchema } from "./fault-profile.ts";
import { faultTraffic, readFaultProfile, writeFaultProfile } from "./fault-store.ts";

export const faultRouter = createAcmeRouter();

faultRouter
  .openapi(
    securedRoute({
      method: "get",
      path: "/admin/faults",
      tags: ["Admin"],
      summary: "The fault profile in force",
      security: ADMIN_TOKEN,
      responses: {
        200: { description: "Profile", content: { "application/json": { schema: FaultProfileSchema } } },
        ...errorResponses(...ADMIN_ERROR_STATUSES),
      },
    }),
    async (c) => c.json(await readFaultProfile(c.env.ACME_DB), 200),
  )
  .openapi(
    securedRoute({
      method: "put",
      path: "/admin/faults",
      tags: ["Admin"],
      summary: "Replace the fault profile (omitted fields take their defaults)",
      description: "Only has an effect where ACME_FAULTS_ENABLED is true; the response says whether it is.",
      security: ADMIN_TOKEN,
      middleware: [acmeJsonBody] as const,
      request: { body: { required: true, content: { "application/json": { schema: FaultProfileSchema } } } },
      responses: {
        200: {
          description: "Stored profile",
          content: { "application/json": { schema: FaultProfileSchema } },
        },
        ...errorResponses(...ADMIN_ERROR_STATUSES, 415),
      },
    }),
    async (c) => {
      const profile = c.req.valid("json");
      await writeFaultProfile(c.env.ACME_DB, profile);
      c.header("X-Acme-Faults-Active", String(c.var.config.faultsEnabled));
      return c.json(profile, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/admin/faults/traffic",
      tags: ["Admin"],
      summary: "Requests that reached Acme's fault layer, and faults injected, since the profile changed",
      description:
        "Counted per isolate (one wrangler dev process counts everything), for tests and benchmarks.",
      security: ADMIN_TOKEN,
      responses: {
        200: {
          description: "Counts",
          content: {
            "application/json": {
              schema: z.object({ requests: z.number().int(), injected: z.number().int(), since: z.string() }),
            },
          },
        },
        ...errorResponses(...ADMIN_ERROR_STATUSES),
      },
    }),
    (c) => c.json(faultTraffic(), 200),
  );
