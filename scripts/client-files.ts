// The typed client's generated files, rendered from the integration API's OpenAPI document. Shared
// by `npm run client:generate` (writes them) and the end-to-end drift check (compares them).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from "openapi-typescript";
import { ROOT } from "./wrangler-dev.ts";

export const CLIENT_DIR = join(ROOT, "client");

/** The committed files, by name in client/, that generation owns. */
export interface ClientFiles {
  "openapi.json": string;
  "schema.d.ts": string;
}

/** The document as committed (2-space JSON) and the openapi-typescript types of its paths. */
export async function renderClientFiles(document: object): Promise<ClientFiles> {
  // A field with a default may be left out of a request: keep it optional in the types.
  const ast = await openapiTS(structuredClone(document) as OpenAPI3, { defaultNonNullable: false });
  return {
    "openapi.json": `${JSON.stringify(document, null, 2)}\n`,
    "schema.d.ts": `${COMMENT_HEADER}${astToString(ast)}`,
  };
}

/** The files as they are in client/ now. */
export function committedClientFiles(): ClientFiles {
  const read = (name: keyof ClientFiles) => readFileSync(join(CLIENT_DIR, name), "utf8");
  return { "openapi.json": read("openapi.json"), "schema.d.ts": read("schema.d.ts") };
}
