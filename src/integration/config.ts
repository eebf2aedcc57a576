import { z } from "zod";

const IntegrationEnvSchema = z.object({
  ENVIRONMENT: z.string().default("production"),
  ADMIN_TOKEN: z.string().min(24),
  ENCRYPTION_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, "must be 32 bytes, base64url without padding")
    .describe("AES-256-GCM key for connection secrets"),
  ACME_BASE_URL: z
    .url()
    .optional()
    .or(z.literal("").transform(() => undefined)),
  CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  ACME_ATTEMPT_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2500),
  IDEMPOTENCY_TTL_SECONDS: z.coerce.number().int().min(60).max(604_800).default(86_400),
  API_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10_485_760).default(65_536),
  PUBLIC_BASE_URL: z
    .url()
    .optional()
    .or(z.literal("").transform(() => undefined)),
});

export interface IntegrationConfig {
  environment: string;
  adminToken: string;
  encryptionKey: string;
  /** Where Acme lives when a connection does not say; unset means the mock in this Worker. */
  acmeBaseUrl: string | undefined;
  cacheTtlSeconds: number;
  acmeAttemptTimeoutMs: number;
  idempotencyTtlSeconds: number;
  maxBodyBytes: number;
  /** This deployment's public origin, for webhook URLs; the request's own origin when unset. */
  publicBaseUrl: string | undefined;
}

const cache = new WeakMap<object, IntegrationConfig>();

export function loadIntegrationConfig(env: Env): IntegrationConfig {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = IntegrationEnvSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid integration configuration: ${fields}`);
  }
  const e = parsed.data;
  const config: IntegrationConfig = {
    environment: e.ENVIRONMENT,
    adminToken: e.ADMIN_TOKEN,
    encryptionKey: e.ENCRYPTION_KEY,
    acmeBaseUrl: e.ACME_BASE_URL,
    cacheTtlSeconds: e.CACHE_TTL_SECONDS,
    acmeAttemptTimeoutMs: e.ACME_ATTEMPT_TIMEOUT_MS,
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    maxBodyBytes: e.API_MAX_BODY_BYTES,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ""),
  };
  cache.set(env, config);
  return config;
}
