import type { Context } from "hono";
import { executionContextOf } from "../../lib/execution-context.ts";
import type { AdminApi, ConsoleEnv } from "./context.ts";

/** Dispatches a request to this Worker in-process (the same app, no network). */
export type SelfFetch = (request: Request, env: Env, ctx: ExecutionContext | undefined) => Promise<Response>;

/**
 * The console's writes go through the integration's admin API, in-process, with the admin token
 * added here on the server: validation, encryption at rest and cache invalidation stay in one
 * place, and each console action is logged like any API call (with the console request's id).
 */
export function adminApiFor(c: Context<ConsoleEnv>, selfFetch: SelfFetch): AdminApi {
  return async (method, path, body, raw) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${c.var.config.adminToken}`,
      "x-request-id": c.var.requestId,
    };
    let sent: BodyInit | undefined;
    if (raw) {
      headers["content-type"] = raw.contentType;
      sent = raw.data;
    } else if (body !== undefined) {
      headers["content-type"] = "application/json";
      sent = JSON.stringify(body);
    }
    const request = new Request(new URL(path, c.req.url), {
      method,
      headers,
      ...(sent !== undefined ? { body: sent } : {}),
    });
    const response = await selfFetch(request, c.env, executionContextOf(c));
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : null };
  };
}

/** The `detail` of a problem+json body (or a generic sentence), for showing to the operator. */
export function problemDetail(body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  return typeof detail === "string" ? detail : "The request failed.";
}
