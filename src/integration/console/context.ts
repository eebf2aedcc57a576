import { Hono } from "hono";
import type { IntegrationVariables } from "../context.ts";
import type { OperatorSignIn } from "./operator-cookie.ts";

/** A body sent as it is (an uploaded file), with its media type, instead of as JSON. */
export interface RawBody {
  contentType: string;
  data: Blob;
}

/** A call to the integration's own admin API: its JSON (or problem+json) body and status. */
export type AdminApi = (
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
  raw?: RawBody,
) => Promise<{ status: number; body: unknown }>;

/** What console handlers see besides the integration's variables. */
export interface ConsoleVariables extends IntegrationVariables {
  /** The operator's sign-in (set by requireOperator). */
  operator: OperatorSignIn;
  adminApi: AdminApi;
}

export type ConsoleEnv = { Bindings: Env; Variables: ConsoleVariables };

/** Every console router shares the console's variables. */
export function createConsoleRouter() {
  return new Hono<ConsoleEnv>();
}
