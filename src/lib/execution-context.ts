import type { Context } from "hono";

/**
 * The request's ExecutionContext (for `waitUntil`), or undefined where there is none: Hono throws
 * when asked for it outside a Worker invocation (a test calling `app.fetch` without one).
 */
export function executionContextOf(c: Context): ExecutionContext | undefined {
  try {
    return c.executionCtx as ExecutionContext;
  } catch {
    return undefined;
  }
}
