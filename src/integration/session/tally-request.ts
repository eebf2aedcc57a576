import { isolateShareFor } from "./isolate-share.ts";
import { withAges } from "./protocol.ts";
import type { RequestSample } from "./request-tally.ts";
import { acmeSessionStub } from "./session-stub.ts";

/**
 * Counts one of the integration's requests for its connection's per-minute figures. The sample
 * waits in the isolate's share and rides along with the next batch call; only when it has
 * waited REQUEST_FLUSH_MS with nothing to ride on is a call made, after the response (`defer`).
 */
export function tallyRequest(
  env: Env,
  connectionId: string,
  sample: RequestSample,
  defer: (work: Promise<unknown>) => void,
): void {
  const share = isolateShareFor(connectionId);
  if (!share.tally(sample, sample.at)) return;
  const stub = acmeSessionStub(env, connectionId);
  defer(
    share.sendQueued((batch) => stub.record(withAges(batch.attempts, Date.now()), batch.requests), sample.at),
  );
}
