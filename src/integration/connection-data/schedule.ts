import { errorFields, log } from "../../lib/logger.ts";

/** The first retry of a reconciliation that could not start comes this much later, ms; it doubles after. */
export const RECONCILE_RETRY_MS = 10_000;

/** Where a connection's reconciliation schedule stands (times epoch ms). */
export interface ReconcileState {
  /** When the next reconciliation is due; null when none is scheduled (new, or the connection is gone). */
  nextAt: number | null;
  /** When one was last started (or found already running). */
  lastStartedAt: number | null;
  /** Why the last attempt could not start one, when it could not: shown on the status route and in the console. */
  failure: { at: number; message: string; attempts: number } | null;
}

const KEY = "reconcile_schedule";

/**
 * A connection's reconciliation schedule, kept in its object's `meta` table: due every interval,
 * started by the object's alarm. An attempt that throws is recorded (visible, never silent) and
 * retried sooner, backing off from RECONCILE_RETRY_MS up to the interval.
 */
export class Schedule {
  constructor(private readonly sql: SqlStorage) {}

  /** The schedule as stored. */
  state(): ReconcileState {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", KEY).toArray()[0];
    return row
      ? (JSON.parse(row.value) as ReconcileState)
      : { nextAt: null, lastStartedAt: null, failure: null };
  }

  private save(state: ReconcileState): void {
    this.sql.exec(
      "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
      KEY,
      JSON.stringify(state),
    );
  }

  /** Sets when the first reconciliation is due (epoch ms), if none is scheduled yet. Returns it. */
  initialize(nextAt: number): number {
    const state = this.state();
    if (state.nextAt !== null) return state.nextAt;
    this.save({ ...state, nextAt });
    return nextAt;
  }

  /** Records a reconciliation started out of turn: the next is due at `nextAt` (epoch ms), no failure stands. */
  restart(nextAt: number): void {
    this.save({ nextAt, lastStartedAt: Date.now(), failure: null });
  }

  /**
   * When due by `now` (epoch ms; a schedule never run is due), runs `start`: true, started (or
   * nothing to start); false, the connection is gone, so nothing more is scheduled; a throw is
   * recorded as the failure and retried with backoff. Returns when the next run is due, or null.
   */
  async run(now: number, intervalMs: number, start: () => Promise<boolean>): Promise<number | null> {
    const state = this.state();
    if (state.nextAt !== null && state.nextAt > now) return state.nextAt;
    try {
      if (!(await start())) {
        this.save({ ...state, nextAt: null });
        return null;
      }
      this.save({ nextAt: now + intervalMs, lastStartedAt: now, failure: null });
      return now + intervalMs;
    } catch (error) {
      const attempts = (state.failure?.attempts ?? 0) + 1;
      const retryAt = now + Math.min(intervalMs, RECONCILE_RETRY_MS * 2 ** (attempts - 1));
      const message = error instanceof Error ? error.message : String(error);
      log("warn", "reconciliation could not start; retrying", {
        attempts,
        retryInMs: retryAt - now,
        ...errorFields(error),
      });
      this.save({ ...state, nextAt: retryAt, failure: { at: now, message, attempts } });
      return retryAt;
    }
  }
}
