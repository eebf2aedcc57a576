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

/**
 * One log line per event, in the format LOG_FORMAT selects; `error` and `warn` go to stderr.
 * Values may come from the request (its path, headers, body): no control character of any of
 * them reaches the line raw, so a request can neither start a forged line nor drive the terminal.
 */
export function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  const time = new Date();
  const line =
    logFormat() === "pretty"
      ? prettyLine(level, message, time, fields)
      : jsonLine({ level, message, time: time.toISOString(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/**
 * Control characters JSON.stringify leaves raw: DEL, the C1 controls (U+0080 to U+009F, among
 * them the one-byte CSI that terminals obey) and the line and paragraph separators.
 */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029]/g;

/** Every control character, and the backslash that would make an escaped one ambiguous. */
// \p{Cc} is C0, DEL and C1.
const UNSAFE_IN_PRETTY = /[\p{Cc}\u2028\u2029\\]/gu;

function unicodeEscape(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** `value` as JSON text with every control character escaped (`\u009b`, not the raw character). */
function jsonText(value: unknown): string {
  return String(JSON.stringify(value)).replace(RAW_IN_JSON, unicodeEscape);
}

/** A log line in the `json` format: the fields as one JSON object, every control character escaped. */
export function jsonLine(fields: Record<string, unknown>): string {
  return jsonText(fields);
}

const SHORT_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\" };

/**
 * `text` with each control character (C0, DEL, C1, U+2028, U+2029) written as an escape (`\n`,
 * `\u001b`) and backslashes doubled, so it prints on one line and never as a terminal command.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(UNSAFE_IN_PRETTY, (char) => SHORT_ESCAPES[char] ?? unicodeEscape(char));
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
    ? `${clock} ${escapeControlCharacters(String(fields.method))} ${escapeControlCharacters(String(fields.path))} ${fields.status} ${Math.round(Number(fields.durationMs ?? 0))}ms`
    : `${clock} ${level.toUpperCase()} ${escapeControlCharacters(message)}`;
  const rest = Object.entries(fields)
    .filter(([key, value]) => {
      if (key === "stack" || key === "requestId" || value === null || value === undefined || value === 0) {
        return false;
      }
      return !(isRequest && REQUEST_FIELDS.has(key));
    })
    .map(
      ([key, value]) =>
        `${shortName(key)}=${typeof value === "string" ? escapeControlCharacters(value) : jsonText(value)}`,
    );
  return [head, ...rest].join(" ");
}

function shortName(key: string): string {
  if (key === "acmeAttempts") return "acme";
  if (key === "acmeRetries") return "retries";
  if (key === "acmeWaitMs") return "waitMs";
  if (key === "connection") return "conn";
  return key;
}
