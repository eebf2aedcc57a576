import { z } from "zod";
import { booleanString, configLoader } from "../lib/env-config.ts";
import { SECRET_KEY_PATTERN, SecretKeyRing } from "../lib/secret-box.ts";
import { ApiError } from "./errors.ts";
import { type BreakerSettings, DEFAULT_BREAKER } from "./resilience/circuit-breaker.ts";

/** One or more 32-byte base64url keys separated by commas (spaces around them allowed). */
const KEY_LIST = /^\s*[A-Za-z0-9_-]{43}(\s*,\s*[A-Za-z0-9_-]{43})*\s*$/;

const IntegrationEnvSchema = z.object({
  ENVIRONMENT: z.string().default("production"),
  ADMIN_TOKEN: z.string().min(24),
  ENCRYPTION_KEYS: z
    .string()
    .regex(KEY_LIST, "must be 32-byte base64url keys (no padding), comma-separated, the current one first")
    .optional()
    .describe("AES-256-GCM keys for connection secrets"),
  ENCRYPTION_KEY: z
    .string()
    .regex(SECRET_KEY_PATTERN, "must be 32 bytes, base64url without padding")
    .optional()
    .describe("The one key of a one-key ring, when ENCRYPTION_KEYS is unset"),
  ID_TAG_KEY: z
    .string()
    .regex(SECRET_KEY_PATTERN, "must be 32 bytes, base64url without padding")
    .describe("HMAC key of the tags on connection ids and API keys"),
  ACME_BASE_URL: z
    .url()
    .optional()
    .or(z.literal("").transform(() => undefined)),
  ACME_IN_PROCESS: booleanString.default(false),
  CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  CACHE_KEY_WRITE_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  CACHE_MEMORY_TTL_MS: z.coerce.number().int().min(0).max(10_000).default(1000),
  ACME_ATTEMPT_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2500),
  IDEMPOTENCY_TTL_SECONDS: z.coerce.number().int().min(60).max(604_800).default(86_400),
  API_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10_485_760).default(65_536),
  PUBLIC_BASE_URL: z
    .url()
    .optional()
    .or(z.literal("").transform(() => undefined)),
  REQUEST_DEADLINE_MS: z.coerce.number().int().min(100).max(60_000).default(3000),
  BACKGROUND_DEADLINE_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  BREAKER_FAILURE_THRESHOLD: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(DEFAULT_BREAKER.failureThreshold),
  BREAKER_WINDOW_MS: z.coerce.number().int().min(100).max(3_600_000).default(DEFAULT_BREAKER.windowMs),
  BREAKER_OPEN_MS: z.coerce.number().int().min(10).max(3_600_000).default(DEFAULT_BREAKER.openMs),
  SESSION_SLOTS_AHEAD: booleanString.default(true),
  // RFC 6749 A.1, A.2: client_id and client_secret are VSCHAR (%x20-7E).
  ACME_OAUTH_CLIENT_ID: z
    .string()
    .regex(/^[\x20-\x7e]{1,200}$/, "must be 1 to 200 printable ASCII characters (RFC 6749 A.1)")
    .optional()
    .or(z.literal("").transform(() => undefined))
    .describe("The product's app at Acme (OAuth connections)"),
  ACME_OAUTH_CLIENT_SECRET: z
    .string()
    .regex(/^[\x20-\x7e]{1,500}$/, "must be 1 to 500 printable ASCII characters (RFC 6749 A.2)")
    .optional()
    .or(z.literal("").transform(() => undefined))
    .describe("The secret of the product's app at Acme"),
});

/**
 * The vars as a whole: a key ring (ENCRYPTION_KEYS or, alone, ENCRYPTION_KEY), and Acme's place.
 * Only the default Worker serves the mock Acme in-process (ACME_IN_PROCESS); any other
 * (env.production) must know where Acme is, or a connection without its own base URL would have
 * nowhere to go: there the Worker refuses to answer without ACME_BASE_URL.
 */
const IntegrationEnvCheckedSchema = IntegrationEnvSchema.refine(
  (e) => e.ENCRYPTION_KEYS !== undefined || e.ENCRYPTION_KEY !== undefined,
  { path: ["ENCRYPTION_KEYS"], message: "is required (or ENCRYPTION_KEY, a one-key ring)" },
)
  .refine((e) => e.ACME_IN_PROCESS || e.ACME_BASE_URL !== undefined, {
    path: ["ACME_BASE_URL"],
    message: "required, Acme's …/acme URL: this Worker has no Acme in-process (ACME_IN_PROCESS is not true)",
  })
  .refine((e) => (e.ACME_OAUTH_CLIENT_ID === undefined) === (e.ACME_OAUTH_CLIENT_SECRET === undefined), {
    path: ["ACME_OAUTH_CLIENT_SECRET"],
    message:
      "ACME_OAUTH_CLIENT_ID and ACME_OAUTH_CLIENT_SECRET go together: set both (OAuth connections) or neither",
  });

/** The product's app at Acme: the client OAuth connections' grants were issued to. */
export interface OAuthAppCredentials {
  clientId: string;
  clientSecret: string;
}

export interface IntegrationConfig {
  environment: string;
  adminToken: string;
  /**
   * The keys connection secrets are sealed with (ENCRYPTION_KEYS, the current one first; else
   * ENCRYPTION_KEY alone). Values sealed with an older key of the ring still open.
   */
  secretKeys: SecretKeyRing;
  /** Keys the tag that connection ids and API keys carry (ID_TAG_KEY; see lib/id-tag.ts). */
  idTagKey: string;
  /**
   * Where Acme lives when a connection does not say; unset means the mock in this Worker, which
   * only the default Worker has (ACME_IN_PROCESS): elsewhere loading the config throws without it.
   */
  acmeBaseUrl: string | undefined;
  cacheTtlSeconds: number;
  /**
   * The least time (ms) between two writes of one cached contact from an isolate: Workers KV
   * takes one write per key per second. Tests of other behaviour run with 0.
   */
  cacheKeyWriteIntervalMs: number;
  /**
   * How long (ms) an isolate serves a cached contact it read from KV or wrote without asking KV
   * again; a change handled by another isolate is seen here at most this late. 0: every read asks KV.
   */
  cacheMemoryTtlMs: number;
  acmeAttemptTimeoutMs: number;
  idempotencyTtlSeconds: number;
  maxBodyBytes: number;
  /** This deployment's public origin, for webhook URLs; the request's own origin when unset. */
  publicBaseUrl: string | undefined;
  /** How long an interactive call may take in all, waits and retries included. */
  requestDeadlineMs: number;
  /** The same for background work (reconciliation). */
  backgroundDeadlineMs: number;
  breaker: BreakerSettings;
  /**
   * Whether a busy isolate takes rate slots of the current window ahead from the connection's
   * session (SESSION_SLOTS_AHEAD); off, every interactive call is admitted by the session itself.
   */
  sessionSlotsAhead: boolean;
  /**
   * The product's app at Acme (ACME_OAUTH_CLIENT_ID, ACME_OAUTH_CLIENT_SECRET), which OAuth
   * connections' grants belong to; undefined when neither is set: the OAuth method is unavailable.
   */
  oauthApp: OAuthAppCredentials | undefined;
}

/** The integration's vars and secrets, validated once per `env`; throws naming every bad value. */
export const loadIntegrationConfig = configLoader(
  "integration",
  IntegrationEnvCheckedSchema,
  (e): IntegrationConfig => ({
    environment: e.ENVIRONMENT,
    adminToken: e.ADMIN_TOKEN,
    secretKeys: SecretKeyRing.fromList(e.ENCRYPTION_KEYS ?? e.ENCRYPTION_KEY ?? ""),
    idTagKey: e.ID_TAG_KEY,
    acmeBaseUrl: e.ACME_BASE_URL,
    cacheTtlSeconds: e.CACHE_TTL_SECONDS,
    cacheKeyWriteIntervalMs: e.CACHE_KEY_WRITE_INTERVAL_MS,
    cacheMemoryTtlMs: e.CACHE_MEMORY_TTL_MS,
    acmeAttemptTimeoutMs: e.ACME_ATTEMPT_TIMEOUT_MS,
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    maxBodyBytes: e.API_MAX_BODY_BYTES,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ""),
    requestDeadlineMs: e.REQUEST_DEADLINE_MS,
    backgroundDeadlineMs: e.BACKGROUND_DEADLINE_MS,
    breaker: {
      ...DEFAULT_BREAKER,
      failureThreshold: e.BREAKER_FAILURE_THRESHOLD,
      windowMs: e.BREAKER_WINDOW_MS,
      openMs: e.BREAKER_OPEN_MS,
      maxOpenMs: Math.max(e.BREAKER_OPEN_MS, DEFAULT_BREAKER.maxOpenMs),
    },
    sessionSlotsAhead: e.SESSION_SLOTS_AHEAD,
    oauthApp:
      e.ACME_OAUTH_CLIENT_ID !== undefined && e.ACME_OAUTH_CLIENT_SECRET !== undefined
        ? { clientId: e.ACME_OAUTH_CLIENT_ID, clientSecret: e.ACME_OAUTH_CLIENT_SECRET }
        : undefined,
  }),
);

/**
 * The product's app credentials at Acme, for what needs them (an OAuth connection's refresh, the
 * connect flow's code exchange). Throws ApiError `internal_error` (500) naming the missing vars
 * when the deployment has none: the OAuth method is unavailable there.
 */
export function requireOAuthApp(config: Pick<IntegrationConfig, "oauthApp">): OAuthAppCredentials {
  if (config.oauthApp) return config.oauthApp;
  throw new ApiError(
    "internal_error",
    "This deployment has no app at Acme (ACME_OAUTH_CLIENT_ID and ACME_OAUTH_CLIENT_SECRET are unset): OAuth connections are unavailable.",
  );
}
