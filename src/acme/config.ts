import { z } from "zod";
import { hmacSha256 } from "../lib/crypto.ts";
import { booleanString, configLoader } from "../lib/env-config.ts";
import { toBase64Url } from "../lib/ids.ts";
import { SecretKeyRing } from "../lib/secret-box.ts";

export const RATE_CLASSES = ["read", "write", "delete", "token", "token_failure"] as const;
export type RateClass = (typeof RATE_CLASSES)[number];

export const RatePolicySchema = z.object({
  limit: z.number().int().min(1).max(1_000_000),
  windowSeconds: z.number().int().min(1).max(86_400),
});
export type RatePolicy = z.infer<typeof RatePolicySchema>;

export const RateLimitsSchema = z.strictObject({
  read: RatePolicySchema,
  write: RatePolicySchema,
  delete: RatePolicySchema,
  token: RatePolicySchema,
  token_failure: RatePolicySchema,
});
export type RateLimits = z.infer<typeof RateLimitsSchema>;

const jsonString = z.string().transform((text, ctx) => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    ctx.addIssue({ code: "custom", message: "must be JSON" });
    return z.NEVER;
  }
});

const PrivateJwkSchema = z.looseObject({
  kty: z.literal("EC"),
  crv: z.literal("P-256"),
  x: z.string(),
  y: z.string(),
  d: z.string(),
  kid: z.string().min(1),
});
export type PrivateJwk = z.infer<typeof PrivateJwkSchema>;

const AcmeEnvSchema = z.object({
  ENVIRONMENT: z.string().default("production"),
  ACME_ISSUER: z.url(),
  ACME_AUDIENCE: z.string().min(1),
  ACME_TOKEN_TTL_SECONDS: z.coerce.number().int().min(5).max(86_400),
  ACME_FAULTS_ENABLED: booleanString,
  ACME_RATE_LIMITS: jsonString.pipe(RateLimitsSchema),
  ACME_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10_485_760),
  ACME_JWT_PRIVATE_KEY: jsonString.pipe(PrivateJwkSchema),
  ACME_CLIENT_SECRET_PEPPER: z.string().min(32),
  ACME_SECRET_KEYS: z
    .string()
    .regex(
      /^\s*[A-Za-z0-9_-]{43}(\s*,\s*[A-Za-z0-9_-]{43})*\s*$/,
      "must be 32-byte base64url keys (no padding), comma-separated, the current one first",
    )
    .describe("AES-256-GCM keys for webhook signing secrets"),
  ACME_ADMIN_TOKEN: z.string().min(24),
  ACME_WEBHOOK_ALLOW_LOOPBACK: booleanString.default(false),
  ACME_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  ACME_OUTBOX_LEASE_MS: z.coerce.number().int().min(1000).max(86_400_000).optional(),
});

export interface AcmeConfig {
  environment: string;
  issuer: string;
  audience: string;
  tokenTtlSeconds: number;
  faultsEnabled: boolean;
  rateLimits: RateLimits;
  maxBodyBytes: number;
  signingKey: PrivateJwk;
  /** Only hashes client secrets (auth/client-secret.ts); rotating it invalidates every client secret. */
  clientSecretPepper: string;
  /**
   * The keys webhook signing secrets are sealed with (ACME_SECRET_KEYS, the current one first).
   * Values sealed before this ring existed open with the key the pepper used to derive.
   */
  secretKeys: SecretKeyRing;
  adminToken: string;
  /** Dev only: lets subscriptions target http://localhost (the demo's own receiver). */
  webhookAllowLoopback: boolean;
  webhookTimeoutMs: number;
  /** Overrides the outbox's lease (`OUTBOX_LEASE_MS` in webhooks/outbox.ts), e.g. for crash tests. */
  outboxLeaseMs: number | undefined;
}

/**
 * The key signing secrets were sealed with before ACME_SECRET_KEYS: derived from the pepper. Kept
 * only to open those values until they are re-sealed (POST /acme/admin/secrets/reseal).
 */
async function pepperDerivedKey(pepper: string): Promise<string> {
  return toBase64Url(await hmacSha256(pepper, "acme webhook signing secrets v1"));
}

/** Validates the Acme part of the environment once per env object; a bad deployment fails loudly. */
export const loadAcmeConfig = configLoader(
  "Acme",
  AcmeEnvSchema,
  (e): AcmeConfig => ({
    environment: e.ENVIRONMENT,
    issuer: e.ACME_ISSUER,
    audience: e.ACME_AUDIENCE,
    tokenTtlSeconds: e.ACME_TOKEN_TTL_SECONDS,
    faultsEnabled: e.ACME_FAULTS_ENABLED,
    rateLimits: e.ACME_RATE_LIMITS,
    maxBodyBytes: e.ACME_MAX_BODY_BYTES,
    signingKey: e.ACME_JWT_PRIVATE_KEY,
    clientSecretPepper: e.ACME_CLIENT_SECRET_PEPPER,
    secretKeys: SecretKeyRing.fromList(e.ACME_SECRET_KEYS, {
      legacyKeys: [pepperDerivedKey(e.ACME_CLIENT_SECRET_PEPPER)],
    }),
    adminToken: e.ACME_ADMIN_TOKEN,
    webhookAllowLoopback: e.ACME_WEBHOOK_ALLOW_LOOPBACK,
    webhookTimeoutMs: e.ACME_WEBHOOK_TIMEOUT_MS,
    outboxLeaseMs: e.ACME_OUTBOX_LEASE_MS,
  }),
);
