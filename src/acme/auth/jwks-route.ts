import { createRoute, z } from "@hono/zod-openapi";
import { createAcmeRouter } from "../context.ts";
import { errorResponses, PUBLIC_ERROR_STATUSES } from "../openapi-schemas.ts";
import { publicJwk } from "./access-token.ts";

const JwksSchema = z
  .object({ keys: z.array(z.object({ kty: z.string(), kid: z.string(), alg: z.string() }).loose()) })
  .openapi("Jwks", {
    example: {
      keys: [
        {
          kty: "EC",
          kid: "k1",
          alg: "ES256",
          crv: "P-256",
          use: "sig",
          x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
          y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        },
      ],
    },
  });

export const jwksRouter = createAcmeRouter().openapi(
  createRoute({
    method: "get",
    path: "/.well-known/jwks.json",
    tags: ["OAuth"],
    summary: "Public keys that verify Acme access tokens",
    responses: {
      200: { description: "JWK set", content: { "application/json": { schema: JwksSchema } } },
      ...errorResponses(...PUBLIC_ERROR_STATUSES),
    },
  }),
  (c) => {
    c.header("Cache-Control", "public, max-age=300");
    const key = publicJwk(c.var.config.signingKey);
    return c.json({ keys: [{ ...key, kty: "EC", kid: c.var.config.signingKey.kid, alg: "ES256" }] }, 200);
  },
);
