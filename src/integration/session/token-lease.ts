// Pure decisions of the per-connection token holder, so they can be tested with fake time.

export interface StoredToken {
  accessToken: string;
  /** Epoch ms at which Acme stops accepting the token. */
  expiresAt: number;
}

export interface Lease {
  id: string;
  until: number;
}

/** Refresh this long before expiry, but never more than half the token's lifetime ahead. */
export const REFRESH_AHEAD_MS = 60_000;
/** A caller that took a lease and vanished blocks others for at most this long. */
export const LEASE_MS = 10_000;

export function isUsable(token: StoredToken | null, now: number, lifetimeMs?: number): token is StoredToken {
  if (!token) return false;
  const ahead = Math.min(REFRESH_AHEAD_MS, lifetimeMs === undefined ? REFRESH_AHEAD_MS : lifetimeMs / 2);
  return token.expiresAt - ahead > now;
}

export function leaseActive(lease: Lease | null, now: number): lease is Lease {
  return lease !== null && lease.until > now;
}
