import { z } from "@hono/zod-openapi";

// Standard Webhooks signing secrets: `whsec_` and the key in standard base64 (RFC 4648 section 4,
// padded). The spec asks for keys of 24 to 64 bytes; anything shorter is guessable, and a value
// that decodes to nothing would silently make every signature check fail.

export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** Shortest key the Standard Webhooks spec allows, in bytes. */
export const WEBHOOK_SECRET_MIN_BYTES = 24;
/** Longest key the Standard Webhooks spec allows, in bytes. */
export const WEBHOOK_SECRET_MAX_BYTES = 64;
/** Size of the keys this project generates, in bytes. */
export const WEBHOOK_SECRET_BYTES = 32;

const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The key bytes of a `whsec_` secret, or why it is not acceptable. Decoding is strict: no
 * whitespace, no base64url alphabet, padding as RFC 4648 writes it, no stray bits in the last
 * character (so each key has exactly one spelling), and 24 to 64 bytes.
 */
export function decodeWebhookSecret(secret: string): { key: Uint8Array } | { problem: string } {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX))
    return { problem: `must start with ${WEBHOOK_SECRET_PREFIX}` };
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!CANONICAL_BASE64.test(encoded)) {
    return { problem: `must be ${WEBHOOK_SECRET_PREFIX} followed by padded standard base64` };
  }
  const key = Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0));
  if (btoa(String.fromCharCode(...key)) !== encoded) {
    return { problem: "must be canonical base64 (unused bits of the last character set)" };
  }
  if (key.byteLength < WEBHOOK_SECRET_MIN_BYTES || key.byteLength > WEBHOOK_SECRET_MAX_BYTES) {
    return {
      problem: `must decode to ${WEBHOOK_SECRET_MIN_BYTES} to ${WEBHOOK_SECRET_MAX_BYTES} bytes, not ${key.byteLength}`,
    };
  }
  return { key };
}

/** A new Standard Webhooks secret: `whsec_` and 32 random bytes in standard base64. */
export function newWebhookSecret(): string {
  const key = crypto.getRandomValues(new Uint8Array(WEBHOOK_SECRET_BYTES));
  return WEBHOOK_SECRET_PREFIX + btoa(String.fromCharCode(...key));
}

/** Request-schema field for a `whsec_` secret; a failure names the field like any other. */
export const WebhookSecretSchema = z
  .string()
  .max(200)
  .superRefine((value, ctx) => {
    const decoded = decodeWebhookSecret(value);
    if ("problem" in decoded) ctx.addIssue({ code: "custom", message: decoded.problem });
  })
  .openapi({
    description: `Standard Webhooks secret: ${WEBHOOK_SECRET_PREFIX} and ${WEBHOOK_SECRET_MIN_BYTES} to ${WEBHOOK_SECRET_MAX_BYTES} bytes in padded standard base64`,
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  });
