/**
 * The most subrequests one invocation may make on Workers Paid: 1,000, the figure this design
 * budgets for (https://developers.cloudflare.com/workers/platform/limits/#subrequests). A
 * subrequest is any `fetch` and any call to a Cloudflare service (KV, D1, R2, Queues, Durable
 * Objects, Workflows). The limits page has since raised the Paid default (10,000, and
 * configurable), so 1,000 is the conservative bound.
 */
export const WORKER_MAX_SUBREQUESTS = 1000;

/**
 * The most outgoing connections one invocation may hold waiting for response headers: "Each Worker
 * invocation can have up to six connections simultaneously waiting for response headers"
 * (https://developers.cloudflare.com/workers/platform/limits/#simultaneous-open-connections). A
 * seventh is not refused but queued by the runtime, with any timeout it carries already running.
 */
export const WORKER_MAX_OPEN_CONNECTIONS = 6;

/**
 * The most KV operations one invocation may make: "Operations/Worker invocation: 1000"
 * (https://developers.cloudflare.com/kv/platform/limits/). The page counts a bulk `get` of many
 * keys as one; budgets here count it as one per key, to stay on the safe side.
 */
export const KV_MAX_OPERATIONS_PER_INVOCATION = 1000;
