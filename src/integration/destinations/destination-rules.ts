import { webhookUrlProblem } from "../../lib/webhook-url-policy.ts";
import { CHANGE_TYPES, type ChangeType } from "../feed/change-types.ts";
import { loadDestinationConfig } from "./config.ts";

// What a destination may be, as the API and the operator console both check it.

/** Every contact change type, as an event filter. */
export const ALL_CONTACT_CHANGES = "contact.*";

/** An event filter as a client may write it: a change type, or `contact.*` for all of them. */
export const EVENT_FILTERS = [...CHANGE_TYPES, ALL_CONTACT_CHANGES] as const;
export type EventFilter = (typeof EVENT_FILTERS)[number];

/** The longest destination URL taken, in characters. */
export const DESTINATION_URL_MAX_LENGTH = 2048;
/** The longest description taken, in characters. */
export const DESTINATION_DESCRIPTION_MAX_LENGTH = 500;

/** The change types a filter list stands for (none given, or `contact.*`: all of them), in feed order. */
export function expandEvents(events: readonly string[] | undefined): ChangeType[] {
  if (!events || events.includes(ALL_CONTACT_CHANGES)) return [...CHANGE_TYPES];
  return CHANGE_TYPES.filter((t) => events.includes(t));
}

/**
 * Null when the deployment takes `url` as a destination, otherwise why not: the policy's phrase
 * (for the `url` field) and a sentence saying it. The policy is the webhook URL policy (the one
 * Acme's subscriptions pass too), loopback only where DESTINATION_ALLOW_LOOPBACK allows it.
 */
export function destinationUrlRefusal(env: Env, url: string): { sentence: string; problem: string } | null {
  const problem = webhookUrlProblem(url, { allowLoopback: loadDestinationConfig(env).allowLoopback });
  return problem ? { sentence: `The destination URL is not allowed: ${problem}`, problem } : null;
}
