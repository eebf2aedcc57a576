import { DurableObject } from "cloudflare:workers";
import { isUsable, LEASE_MS, type Lease, leaseActive, type StoredToken } from "./token-lease.ts";

export type TokenGrant =
  | { kind: "token"; accessToken: string; expiresAt: number }
  | { kind: "lease"; leaseId: string };

interface StoredTokenRecord extends StoredToken {
  lifetimeMs: number;
}

const TOKEN_KEY = "token";

/**
 * The integration's state for one connection (one instance per connection id): the Acme access
 * token, refreshed by a single caller at a time (single flight). The Worker that holds the lease
 * fetches the token over the connection's transport and hands it back; everyone else waits here.
 */
export class AcmeSession extends DurableObject<Env> {
  private lease: Lease | null = null;
  private waiters: Array<() => void> = [];

  /** A usable token, or the lease to fetch one. Callers waiting on another's lease park here. */
  async acquireToken(now: number = Date.now()): Promise<TokenGrant> {
    for (;;) {
      const token = this.ctx.storage.kv.get<StoredTokenRecord>(TOKEN_KEY) ?? null;
      if (isUsable(token, now, token?.lifetimeMs)) {
        return { kind: "token", accessToken: token.accessToken, expiresAt: token.expiresAt };
      }
      if (!leaseActive(this.lease, Date.now())) {
        this.lease = { id: crypto.randomUUID(), until: Date.now() + LEASE_MS };
        return { kind: "lease", leaseId: this.lease.id };
      }
      await this.waitForLease(this.lease.until - Date.now());
      now = Date.now();
    }
  }

  storeToken(leaseId: string, accessToken: string, expiresInSeconds: number, now: number = Date.now()): void {
    const lifetimeMs = expiresInSeconds * 1000;
    this.ctx.storage.kv.put<StoredTokenRecord>(TOKEN_KEY, {
      accessToken,
      expiresAt: now + lifetimeMs,
      lifetimeMs,
    });
    this.releaseLease(leaseId);
  }

  /** The leaseholder failed to get a token; the next waiter takes the lease. */
  releaseLease(leaseId: string): void {
    if (this.lease?.id !== leaseId) return;
    this.lease = null;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Acme refused `accessToken` (401): forget it so the next caller refreshes, once. */
  invalidateToken(accessToken: string): void {
    const token = this.ctx.storage.kv.get<StoredTokenRecord>(TOKEN_KEY);
    if (token?.accessToken === accessToken) this.ctx.storage.kv.delete(TOKEN_KEY);
  }

  /** When the current token expires (never the token itself), for status pages. */
  tokenExpiresAt(): number | null {
    return this.ctx.storage.kv.get<StoredTokenRecord>(TOKEN_KEY)?.expiresAt ?? null;
  }

  private waitForLease(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
