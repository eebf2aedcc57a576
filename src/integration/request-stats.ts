/** What the request log line reports beyond method, route and status. */
export interface RequestStats {
  acmeAttempts: number;
  acmeRetries: number;
  /** Time spent waiting for a rate slot or a retry backoff. */
  acmeWaitMs: number;
  cache?: "HIT" | "MISS" | "STALE";
}
