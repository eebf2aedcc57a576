// The integration API's typed client: paths, parameters, bodies and responses come from
// client/schema.d.ts, generated from /api/openapi.json (`npm run client:generate`). Installed as the
// package `acme-bridge-client` (client/package.json), built into dist/ by scripts/build-client.ts.
import type { Client, ClientOptions } from "openapi-fetch";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };

/** A contact as the API returns it. */
export type Contact = components["schemas"]["Contact"];
/** The body of a create or full replace. */
export type ContactInput = components["schemas"]["ContactInput"];
/** The body of a merge patch. */
export type ContactPatch = components["schemas"]["ContactPatch"];
/** An RFC 9457 problem, as every error of the API is. */
export type Problem = components["schemas"]["Problem"];
/** The closed set of problem codes (`Problem["code"]`): a switch over them can be exhaustive. */
export type ProblemCode = Problem["code"];
/** A sync job (import, backfill, reconcile) and its progress. */
export type Job = components["schemas"]["Job"];
/** A destination: where the connection's changes are pushed (its secret only when just made or rotated). */
export type Destination = components["schemas"]["Destination"];
/** One attempt of the delivery log of a destination. */
export type DeliveryAttempt = components["schemas"]["DeliveryAttempt"];
/** What a destination receives: `{type, timestamp, data}` with `data` the change-feed entry. */
export type DestinationPayload = components["schemas"]["DestinationPayload"];
/** One of the connection's Acme properties, as discovery lists it. */
export type RemoteField = components["schemas"]["RemoteField"];
/** The connection's custom fields: each one's Acme property, by API name. */
export type FieldMappings = components["schemas"]["FieldMappings"];

/** A client of every route of the API; each call resolves to `{ data }` or `{ error }` by status. */
export type AcmeBridgeClient = Client<paths>;

/** Where the API is and how to call it; `fetch` replaces globalThis.fetch (tests, proxies). */
export interface AcmeBridgeClientOptions {
  /** The deployment's origin, e.g. "http://127.0.0.1:8787" (paths already start with /api). */
  baseUrl: string;
  fetch?: ClientOptions["fetch"];
}

function bearerClient(options: AcmeBridgeClientOptions, token: string): AcmeBridgeClient {
  return createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/$/, ""),
    headers: { authorization: `Bearer ${token}` },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

/**
 * A client authenticated with a connection's API key (`Authorization: Bearer <apiKey>`), for the
 * contacts, events and status routes.
 *
 * @example
 * const api = createAcmeBridgeClient({ baseUrl: "http://127.0.0.1:8787", apiKey });
 * const { data, error } = await api.POST("/api/v1/contacts", {
 *   body: { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com" },
 * });
 */
export function createAcmeBridgeClient(
  options: AcmeBridgeClientOptions & { apiKey: string },
): AcmeBridgeClient {
  return bearerClient(options, options.apiKey);
}

/** A client authenticated with the integration's admin token, for the /api/v1/admin routes. */
export function createAcmeBridgeAdminClient(
  options: AcmeBridgeClientOptions & { adminToken: string },
): AcmeBridgeClient {
  return bearerClient(options, options.adminToken);
}
