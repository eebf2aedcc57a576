import { DurableObject } from "cloudflare:workers";
import type { RateClass, RatePolicy } from "../config.ts";
import { consumeWindow, type RateDecision, type WindowState } from "./fixed-window.ts";

/**
 * Acme's rate limits for one client (one instance per client id). Counting happens inside the
 * object, single-threaded and in SQLite, so limits are exact however many Workers call in.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS windows (
        rate_class TEXT PRIMARY KEY, window_start INTEGER NOT NULL, count INTEGER NOT NULL)`);
      this.sql.exec(`CREATE TABLE IF NOT EXISTS overrides (
        rate_class TEXT PRIMARY KEY, rate_limit INTEGER NOT NULL, window_seconds INTEGER NOT NULL)`);
    });
  }

  /** Takes `cost` units of `rateClass` if the window has room; the decision says either way. */
  consume(rateClass: RateClass, fallback: RatePolicy, nowMs: number = Date.now(), cost = 1): RateDecision {
    return this.ctx.storage.transactionSync(() => {
      const policy = this.policy(rateClass, fallback);
      const { decision, state } = consumeWindow(this.window(rateClass), policy, nowMs, cost);
      if (decision.allowed) {
        this.sql.exec(
          `INSERT INTO windows (rate_class, window_start, count) VALUES (?, ?, ?)
           ON CONFLICT (rate_class) DO UPDATE SET window_start = excluded.window_start, count = excluded.count`,
          rateClass,
          state.windowStart,
          state.count,
        );
      }
      return decision;
    });
  }

  /** The decision a request would get, without taking anything. */
  peek(rateClass: RateClass, fallback: RatePolicy, nowMs: number = Date.now()): RateDecision {
    const policy = this.policy(rateClass, fallback);
    return consumeWindow(this.window(rateClass), policy, nowMs, 1).decision;
  }

  /** Per-client limits that replace the deployment defaults; `null` for a class removes its override. */
  setOverrides(overrides: Partial<Record<RateClass, RatePolicy | null>>): void {
    this.ctx.storage.transactionSync(() => {
      for (const [rateClass, policy] of Object.entries(overrides)) {
        if (policy === null || policy === undefined) {
          this.sql.exec("DELETE FROM overrides WHERE rate_class = ?", rateClass);
        } else {
          this.sql.exec(
            `INSERT INTO overrides (rate_class, rate_limit, window_seconds) VALUES (?, ?, ?)
             ON CONFLICT (rate_class) DO UPDATE SET rate_limit = excluded.rate_limit,
               window_seconds = excluded.window_seconds`,
            rateClass,
            policy.limit,
            policy.windowSeconds,
          );
        }
        this.sql.exec("DELETE FROM windows WHERE rate_class = ?", rateClass);
      }
    });
  }

  private policy(rateClass: RateClass, fallback: RatePolicy): RatePolicy {
    const row = this.sql
      .exec<{ rate_limit: number; window_seconds: number }>(
        "SELECT rate_limit, window_seconds FROM overrides WHERE rate_class = ?",
        rateClass,
      )
      .toArray()[0];
    return row ? { limit: row.rate_limit, windowSeconds: row.window_seconds } : fallback;
  }

  private window(rateClass: RateClass): WindowState | null {
    const row = this.sql
      .exec<{ window_start: number; count: number }>(
        "SELECT window_start, count FROM windows WHERE rate_class = ?",
        rateClass,
      )
      .toArray()[0];
    return row ? { windowStart: row.window_start, count: row.count } : null;
  }
}
