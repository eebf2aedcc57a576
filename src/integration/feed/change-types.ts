// The kinds of change the feed records. They are Acme's webhook event names too: the integration
// subscribes to these, reads them from Acme's webhooks, and passes them to the feed unchanged.

/** Every kind of contact change, in the order a contact lives through them. */
export const CHANGE_TYPES = ["contact.created", "contact.updated", "contact.deleted"] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** `{field: {from, to}}`: what a change did to each field it changed, in API names. */
export type FieldChanges = Record<string, { from: unknown; to: unknown }>;
