import { ACME_QUEUE_CONSUMERS } from "./acme/background.ts";
import { INTEGRATION_QUEUE_CONSUMERS } from "./integration/background.ts";
import { queueDispatcher } from "./lib/queue-dispatch.ts";

/** The default Worker's `queue` handler: both systems' consumers. */
export const dispatchQueue = queueDispatcher({ ...ACME_QUEUE_CONSUMERS, ...INTEGRATION_QUEUE_CONSUMERS });
