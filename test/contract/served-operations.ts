import { SELF } from "cloudflare:test";
import { DOCUMENT_PATHS } from "./check-responses.ts";
import {
  HTTP_METHODS,
  type HttpMethod,
  type OpenApiDocument,
  type Operation,
  serverPrefix,
} from "./openapi-contract.ts";

/** One operation of a document the Worker serves, with the full path template. */
export interface DocumentedOperation {
  system: keyof typeof DOCUMENT_PATHS;
  document: OpenApiDocument;
  method: HttpMethod;
  /** The path template as the document's `paths` key has it (without the server prefix). */
  path: string;
  /** The full path template, server prefix included. */
  template: string;
  operation: Operation;
}

/** The two OpenAPI documents as the Worker serves them (through SELF), by system. */
export async function servedDocuments(): Promise<Record<keyof typeof DOCUMENT_PATHS, OpenApiDocument>> {
  const served = async (path: string) =>
    (await SELF.fetch(`http://bridge.test${path}`)).json<OpenApiDocument>();
  return { integration: await served(DOCUMENT_PATHS.integration), acme: await served(DOCUMENT_PATHS.acme) };
}

/** Every operation of both documents, integration first, in document order. */
export function documentedOperations(
  documents: Record<keyof typeof DOCUMENT_PATHS, OpenApiDocument>,
): DocumentedOperation[] {
  return (["integration", "acme"] as const).flatMap((system) => {
    const document = documents[system];
    return Object.entries(document.paths).flatMap(([template, item]) =>
      HTTP_METHODS.filter((method) => item[method]).map((method) => ({
        system,
        document,
        method,
        path: template,
        template: `${serverPrefix(document)}${template}`,
        operation: item[method] as Operation,
      })),
    );
  });
}
