import { z } from "zod";
import { booleanString, configLoader } from "../../lib/env-config.ts";
import { DESTINATION_SCHEDULE } from "../../lib/webhook-delivery.ts";

const DestinationEnvSchema = z.object({
  DESTINATION_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  DESTINATION_ALLOW_LOOPBACK: booleanString.default(false),
  DESTINATION_RETRY_BASE_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(DESTINATION_SCHEDULE.baseMs),
  DESTINATION_RETRY_CAP_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(86_400_000)
    .default(DESTINATION_SCHEDULE.capMs),
  DESTINATION_RETRY_HORIZON_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .default(DESTINATION_SCHEDULE.horizonMs / 1000),
});

/** How destinations are delivered to. */
export interface DestinationConfig {
  /** One attempt's timeout, ms (from the moment its fetch starts). */
  timeoutMs: number;
  /** Whether destination URLs may be `http://127.0.0.1` and other loopback addresses (local dev). */
  allowLoopback: boolean;
  /** Retries: full jitter from `retryBaseMs` doubling to `retryCapMs`, for `retryHorizonMs` after the first attempt. */
  retryBaseMs: number;
  retryCapMs: number;
  retryHorizonMs: number;
}

/** Reads the destinations' vars once per env; throws naming every bad one. */
export const loadDestinationConfig = configLoader(
  "destination",
  DestinationEnvSchema,
  (e): DestinationConfig => ({
    timeoutMs: e.DESTINATION_TIMEOUT_MS,
    allowLoopback: e.DESTINATION_ALLOW_LOOPBACK,
    retryBaseMs: e.DESTINATION_RETRY_BASE_MS,
    retryCapMs: e.DESTINATION_RETRY_CAP_MS,
    retryHorizonMs: e.DESTINATION_RETRY_HORIZON_SECONDS * 1000,
  }),
);
