import { env } from "cloudflare:workers";

export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * How log lines look: `json` (the default everywhere: one structured line that Workers Logs and
 * `wrangler tail` index) or `pretty` (one short human line, chosen by `npm start` for a terminal).
 * Set with the LOG_FORMAT var; anything else means `json`.
 */
export type LogFormat = "json" | "pretty";

function logFormat(): LogFormat {
  // Read per call from the Worker's env, so the queue, cron and Durable Object paths agree with fetch.
  return (env as Partial<Env> | undefined)?.LOG_FORMAT === "pretty" ? "pretty" : "json";
}

/** One log line per event, in the format LOG_FORMAT selects; `error` and `warn` go to stderr. */
export function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  const time = new Date();
  const line =
    logFormat() === "pretty"
      ? prettyLine(level, message, time, fields)
      : JSON.stringify({ level, message, time: time.toISOString(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) return { error: error.message, errorName: error.name, stack: error.stack };
  return { error: String(error) };
}

/** Fields a request line already shows in its own words, or too long for one terminal line. */
const REQUEST_FIELDS = new Set(["system", "method", "path", "route", "status", "durationMs", "stack"]);

/**
 * `14:03:07 POST /api/v1/contacts 201 34ms acme=1 cache=MISS conn=conn_…` for request lines,
 * `14:03:07 WARN inbox message failed; retrying attempts=2 error=…` for the rest. Fields that are
 * null or zero are left out; the request id too (it is in the response's X-Request-Id).
 */
export function prettyLine(
  level: LogLevel,
  message: string,
  time: Date,
  fields: Record<string, unknown>,
): string {
  const clock = time.toISOString().slice(11, 19);
  const isRequest = typeof fields.method === "string" && typeof fields.status === "number";
  const head = isRequest
    ? `${clock} ${fields.method} ${fields.path} ${fields.status} ${Math.round(Number(fields.durationMs ?? 0))}ms`
    : `${clock} ${level.toUpperCase()} ${message}`;
  const rest = Object.entries(fields)
    .filter(([key, value]) => {
      if (key === "stack" || key === "requestId" || value === null || value === undefined || value === 0) {
        return false;
      }
      return !(isRequest && REQUEST_FIELDS.has(key));
    })
    .map(([key, value]) => `${shortName(key)}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  return [head, ...rest].join(" ");
}

function shortName(key: string): string {
  if (key === "acmeAttempts") return "acme";
  if (key === "acmeRetries") return "retries";
  if (key === "acmeWaitMs") return "waitMs";
  if (key === "connection") return "conn";
  return key;
}
