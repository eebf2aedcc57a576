import { asc, eq, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { JobKind } from "../connection-data/schema.ts";
import { activeJobs } from "../db/schema.ts";

/** A row of D1's index of active jobs (see `activeJobs`). */
export interface ActiveJobEntry {
  jobId: string;
  connectionId: string;
  kind: JobKind;
  leaseUntil: number;
}

/** Adds a started job to the index. Throws what D1 throws. */
export async function indexActiveJob(db: D1Database, entry: ActiveJobEntry, now = new Date()): Promise<void> {
  await drizzle(db)
    .insert(activeJobs)
    .values({ ...entry, createdAt: now.toISOString() })
    .onConflictDoNothing();
}

/** Removes an ended job from the index. Throws what D1 throws. */
export async function unindexJob(db: D1Database, jobId: string): Promise<void> {
  await drizzle(db).delete(activeJobs).where(eq(activeJobs.jobId, jobId));
}

/** Moves the index's lease of a job (when the sweep next looks at it, epoch ms). */
export async function setIndexedLease(db: D1Database, jobId: string, leaseUntil: number): Promise<void> {
  await drizzle(db).update(activeJobs).set({ leaseUntil }).where(eq(activeJobs.jobId, jobId));
}

/** Index rows whose lease ran out before `now` (epoch ms): at most `limit`, oldest lease first. */
export async function expiredIndexEntries(
  db: D1Database,
  now: number,
  limit: number,
): Promise<ActiveJobEntry[]> {
  return drizzle(db)
    .select({
      jobId: activeJobs.jobId,
      connectionId: activeJobs.connectionId,
      kind: activeJobs.kind,
      leaseUntil: activeJobs.leaseUntil,
    })
    .from(activeJobs)
    .where(lt(activeJobs.leaseUntil, now))
    .orderBy(asc(activeJobs.leaseUntil))
    .limit(limit);
}
