import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  decodeWebhookSecret,
  newWebhookSecret,
  WEBHOOK_SECRET_MAX_BYTES,
  WEBHOOK_SECRET_MIN_BYTES,
  WebhookSecretSchema,
} from "../../src/lib/webhook-secret.ts";

const encode = (bytes: Uint8Array) => `whsec_${btoa(String.fromCharCode(...bytes))}`;
const keyOf = (size: number, fill = 7) => new Uint8Array(size).fill(fill);

describe("decodeWebhookSecret", () => {
  it.each([WEBHOOK_SECRET_MIN_BYTES, 25, 26, 32, 48, WEBHOOK_SECRET_MAX_BYTES])(
    "accepts a %i-byte key in padded standard base64 and returns its bytes",
    (size) => {
      const key = crypto.getRandomValues(new Uint8Array(size));
      expect(decodeWebhookSecret(encode(key))).toEqual({ key });
    },
  );

  it("accepts the Standard Webhooks specification's example secret", () => {
    const decoded = decodeWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    expect("key" in decoded && decoded.key.byteLength).toBe(24);
  });

  it.each([
    ["whsec_AAAA", "a 3-byte key (the issue's example)", /24 to 64 bytes, not 3/],
    ["whsec_A", "one character, which decodes to nothing", /base64/],
    ["whsec_", "no key at all", /24 to 64 bytes, not 0/],
    [encode(keyOf(23)), "23 bytes", /not 23/],
    [encode(keyOf(65)), "65 bytes", /not 65/],
    [encode(keyOf(32)).replace(/=$/, ""), "a 32-byte key without its padding", /padded/],
    [`${encode(keyOf(32))}=`, "extra padding", /padded/],
    [
      encode(keyOf(32, 0xfb)).replace(/\+/g, "-").replace(/\//g, "_"),
      "the base64url alphabet",
      /standard base64/,
    ],
    [
      `whsec_${btoa(String.fromCharCode(...keyOf(32))).slice(0, 20)} ${btoa(String.fromCharCode(...keyOf(32))).slice(20)}`,
      "a space inside",
      /base64/,
    ],
    [`whsec_${btoa(String.fromCharCode(...keyOf(32)))}\n`, "a trailing newline", /base64/],
    [btoa(String.fromCharCode(...keyOf(32))), "no whsec_ prefix", /whsec_/],
    [`WHSEC_${btoa(String.fromCharCode(...keyOf(32)))}`, "an upper-case prefix", /whsec_/],
    ["whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", "stray bits in the last character", /canonical/],
  ])("refuses %j (%s)", (secret, _label, reason) => {
    const decoded = decodeWebhookSecret(secret);
    expect("problem" in decoded && decoded.problem).toMatch(reason);
  });

  it("property: every key of 24 to 64 bytes round trips; every shorter or longer key is refused", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), (key) => {
        const decoded = decodeWebhookSecret(encode(key));
        if (key.byteLength >= WEBHOOK_SECRET_MIN_BYTES && key.byteLength <= WEBHOOK_SECRET_MAX_BYTES) {
          expect(decoded).toEqual({ key });
        } else {
          expect(decoded).toHaveProperty("problem");
        }
      }),
    );
  });
});

describe("newWebhookSecret", () => {
  it("makes secrets the strict decoder accepts, each different, usable by the Standard Webhooks library", () => {
    const secrets = Array.from({ length: 50 }, newWebhookSecret);
    expect(new Set(secrets).size).toBe(50);
    for (const secret of secrets) {
      const decoded = decodeWebhookSecret(secret);
      expect("key" in decoded && decoded.key.byteLength).toBe(32);
    }
    const [secret = ""] = secrets;
    const at = new Date();
    const signature = new Webhook(secret).sign("msg_1", at, "{}");
    const headers = {
      "webhook-id": "msg_1",
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": signature,
    };
    expect(new Webhook(secret).verify("{}", headers)).toEqual({});
  });
});

describe("WebhookSecretSchema", () => {
  it("accepts a valid secret and refuses a weak one with the decoder's reason", () => {
    const secret = newWebhookSecret();
    expect(WebhookSecretSchema.parse(secret)).toBe(secret);
    const result = WebhookSecretSchema.safeParse("whsec_AAAA");
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual([expect.stringMatching(/not 3/)]);
  });
});
