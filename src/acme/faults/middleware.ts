import type { MiddlewareHandler } from "hono";
import type { AcmeEnv } from "../context.ts";
import { AcmeError, type AcmeErrorCode } from "../errors.ts";
import { chooseFault, type Fault, parseFaultHeader } from "./fault-profile.ts";
import { countTraffic, nextFaultDraw } from "./fault-store.ts";

const STATUS_CODES: Record<number, AcmeErrorCode> = {
  500: "internal_error",
  502: "bad_gateway",
  503: "service_unavailable",
  504: "gateway_timeout",
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function faultError(fault: Extract<Fault, { kind: "status" }>): AcmeError {
  if (fault.status === 429) {
    return new AcmeError("rate_limited", "Rate limit exceeded (injected fault).", {
      headers: { "Retry-After": String(fault.retryAfterSeconds ?? 1) },
    });
  }
  const code = STATUS_CODES[fault.status] ?? "service_unavailable";
  const headers: Record<string, string> =
    fault.retryAfterSeconds !== undefined ? { "Retry-After": String(fault.retryAfterSeconds) } : {};
  return new AcmeError(code, "Acme is having trouble (injected fault).", { headers });
}

/**
 * Fault injection, only where config enables it: `X-Acme-Fault` forces one fault on a request;
 * otherwise the stored profile decides with its seeded sequence.
 */
export function injectFaults(): MiddlewareHandler<AcmeEnv> {
  return async function faultMiddleware(c, next) {
    if (!c.var.config.faultsEnabled) return next();
    const header = c.req.header("x-acme-fault");
    let fault: Fault | null;
    if (header !== undefined) {
      const parsed = parseFaultHeader(header);
      if ("error" in parsed) {
        throw new AcmeError("validation_failed", parsed.error, {
          details: [{ field: "X-Acme-Fault", message: parsed.error }],
        });
      }
      fault = parsed;
    } else {
      const draw = await nextFaultDraw(c.env.ACME_DB);
      fault = chooseFault(draw.profile, c.req.method, draw.sequence, draw.random);
    }
    countTraffic(fault !== null);
    if (!fault) return next();
    c.header("X-Acme-Fault-Injected", fault.kind === "status" ? `status=${fault.status}` : fault.kind);
    if (fault.delayMs > 0) await sleep(fault.delayMs);
    if (fault.kind === "timeout") throw new AcmeError("gateway_timeout", "Acme timed out (injected fault).");
    if (fault.kind === "delay") return next();
    if (fault.phase === "before") throw faultError(fault);
    await next();
    throw faultError(fault);
  };
}
