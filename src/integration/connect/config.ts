import { z } from "zod";
import { booleanString, configLoader } from "../../lib/env-config.ts";

/** A connect session lives at most this long (DESIGN: 30 minutes). */
export const MAX_CONNECT_SESSION_TTL_SECONDS = 1800;

const ConnectEnvSchema = z.object({
  CONNECT_SESSION_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_CONNECT_SESSION_TTL_SECONDS)
    .default(MAX_CONNECT_SESSION_TTL_SECONDS),
  CONNECT_REDIRECT_ALLOW_LOOPBACK: booleanString.default(false),
});

/** How connect sessions behave. */
export interface ConnectConfig {
  /** How long a new connect session's link works, seconds (1 to 1800). */
  sessionTtlSeconds: number;
  /**
   * Whether a session's `redirectUrl` may be a loopback URL, over plain http too (local dev,
   * CONNECT_REDIRECT_ALLOW_LOOPBACK); otherwise it must be https.
   */
  redirectAllowLoopback: boolean;
}

/** Reads the connect flow's vars once per env; throws naming every bad one. */
export const loadConnectConfig = configLoader(
  "connect",
  ConnectEnvSchema,
  (e): ConnectConfig => ({
    sessionTtlSeconds: e.CONNECT_SESSION_TTL_SECONDS,
    redirectAllowLoopback: e.CONNECT_REDIRECT_ALLOW_LOOPBACK,
  }),
);
