import { Webhook } from "standardwebhooks";

/** Standard Webhooks v1 headers for one delivery attempt (`webhook-id` is the event id). */
export function signedHeaders(
  secret: string,
  eventId: string,
  body: string,
  now: Date,
): Record<string, string> {
  return {
    "webhook-id": eventId,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(eventId, now, body),
  };
}
