import { DurableObject } from "cloudflare:workers";
import { type DrizzleSqliteDODatabase, drizzle } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import migrations from "../../../migrations/connection-data/migrations.js";
import { newId } from "../../lib/ids.ts";
import { errorFields, log } from "../../lib/logger.ts";
import { newWebhookSecret } from "../../lib/webhook-secret.ts";
import { loadIntegrationConfig } from "../config.ts";
import type { AcmeContact } from "../contacts/acme-contact-schema.ts";
import type { CustomFieldMapping } from "../contacts/mapping.ts";
import { courierOf } from "../destinations/courier.ts";
import {
  type AttemptReport,
  type ClaimedDelivery,
  type DeliveryState,
  DestinationStore,
} from "../destinations/destination-store.ts";
import type { ChangeEvent } from "../feed/change-event.ts";
import {
  type ApplyOutcome,
  type CacheInvalidation,
  cacheFloor,
  type FeedPage,
  type FeedSelection,
  FeedStore,
  type IncomingChange,
} from "../feed/feed-store.ts";
import { FieldMappingStore } from "../field-mappings/field-mapping-store.ts";
import {
  type IdempotencyStart,
  IdempotencyStore,
  type StoredResponse,
} from "../idempotency/idempotency-store.ts";
import type { RawRow } from "../jobs/import-parser.ts";
import type { RowError } from "../jobs/import-row.ts";
import {
  type FinishedStatus,
  type JobPage,
  JobStore,
  type NewJob,
  type Progress,
} from "../jobs/job-store.ts";
import { startReconcileJob } from "../jobs/start-job.ts";
import { type ConnectionDataConfig, loadConnectionDataConfig } from "./config.ts";
import { type ReconcileState, Schedule } from "./schedule.ts";
import {
  type DeliveryAttemptRow,
  type DeliveryStatus,
  type DestinationRow,
  type DestinationStatus,
  type JobKind,
  type JobRow,
  meta,
} from "./schema.ts";

/** Rows each kind of data may lose per alarm: a bounded slice, so an alarm stays short. */
export const PRUNE_SLICE_ROWS = 500;

/** How soon the alarm comes back while a pruning backlog is left, ms. */
const BACKLOG_RETRY_MS = 1000;

/** What applying a batch of webhook changes did: each change's outcome, in order, and the copies to drop. */
export interface WebhookApplyResult {
  outcomes: Array<ApplyOutcome | { error: string }>;
  invalidate: CacheInvalidation[];
}

/** See `ConnectionData.overview`. */
export interface ConnectionDataOverview {
  contacts: number;
  deleted: number;
  lastSeq: number;
  prunedThrough: number;
  lastSync: JobRow | null;
  reconcile: ReconcileState;
}

/**
 * One connection's own data (one instance per connection id, named by it): the contact mirror,
 * the change feed, processed webhook ids, idempotency keys, jobs with their chunks and errors,
 * and which contacts may be cached in KV, in the object's SQLite storage. A sibling of the
 * connection's `AcmeSession`, so heavy writes here never delay admission there. Each tenant has
 * its own writer and its own storage; D1 keeps only the directory.
 *
 * Its alarm does the connection's periodic work: pruning in bounded slices (see
 * {@link ConnectionDataConfig}) and starting the connection's reconciliation when due.
 */
export class ConnectionData extends DurableObject<Env> {
  private readonly db: DrizzleSqliteDODatabase;
  private readonly config: ConnectionDataConfig;
  private readonly idempotency: IdempotencyStore;
  private readonly jobs: JobStore;
  private readonly schedule: Schedule;
  private readonly destinations: DestinationStore;
  private readonly mappings: FieldMappingStore;
  /** Destinations that got deliveries in the transaction just run (their couriers are woken after it). */
  private woken = new Set<string>();
  private connectionIdCache: string | null = null;
  /** Whether this instance has made sure an alarm is set. */
  private alarmChecked = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.db = drizzle(ctx.storage, { logger: false });
    this.config = loadConnectionDataConfig(env);
    this.idempotency = new IdempotencyStore(
      this.db,
      ctx.storage.sql,
      loadIntegrationConfig(env).idempotencyTtlSeconds,
    );
    this.jobs = new JobStore(ctx.storage, this.db);
    this.schedule = new Schedule(ctx.storage.sql);
    this.destinations = new DestinationStore(ctx.storage, this.db);
    this.mappings = new FieldMappingStore(ctx.storage, this.db);
    void ctx.blockConcurrencyWhile(async () => migrate(this.db, migrations));
  }

  // ---- identity and schedule ----

  /** The connection this object belongs to, as recorded by the first call that named it. */
  private get connectionId(): string | null {
    if (this.connectionIdCache === null) {
      this.connectionIdCache =
        this.ctx.storage.sql
          .exec<{ value: string }>("SELECT value FROM meta WHERE key = 'connection_id'")
          .toArray()[0]?.value ?? null;
    }
    return this.connectionIdCache;
  }

  private attach(connectionId: string): void {
    if (this.connectionIdCache === connectionId) return;
    this.db.insert(meta).values({ key: "connection_id", value: connectionId }).onConflictDoNothing().run();
    this.connectionIdCache = connectionId;
  }

  /**
   * Makes sure the alarm is set (checked once per instance life; the alarm re-arms itself). A
   * connection's first write schedules its first reconciliation an interval later: it starts with
   * a backfill, which is its first sync.
   */
  private async ensureAlarm(): Promise<void> {
    if (this.alarmChecked) return;
    this.alarmChecked = true;
    const now = Date.now();
    const due = this.schedule.initialize(now + this.config.reconcileIntervalSeconds * 1000);
    const next = Math.max(now, Math.min(due, now + this.config.retentionIntervalSeconds * 1000));
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > next) await this.ctx.storage.setAlarm(next);
  }

  /**
   * Records the connection id and makes sure the object's alarm is set for its next
   * reconciliation (due at once if none was ever scheduled); called by the cron for a connection
   * whose reconciliation is overdue. Returns the schedule's state.
   */
  async ensureScheduled(connectionId: string): Promise<ReconcileState> {
    this.attach(connectionId);
    const now = Date.now();
    const due = Math.max(now, this.schedule.initialize(now));
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > due) await this.ctx.storage.setAlarm(due);
    this.alarmChecked = true;
    return this.schedule.state();
  }

  /**
   * Starts the connection's reconciliation now (an operator's request), unless a backfill or a
   * reconciliation is active; it counts as the scheduled one, so the next is due an interval
   * later. Throws when the job could not be started (nothing is left queued).
   */
  async reconcileNow(connectionId: string): Promise<{ started: JobRow } | { active: JobRow }> {
    this.attach(connectionId);
    await this.ensureAlarm();
    const active = this.jobs.active(["backfill", "reconcile"]);
    if (active) return { active };
    let started: JobRow | null = null;
    await startReconcileJob(this.env, connectionId, {
      active: () => null,
      create: (input) => {
        started = this.jobs.create(input);
        return started;
      },
      abandon: (id, reason) => void this.jobs.finish(id, "failed", new Date(), reason),
    });
    if (!started) throw new Error(`connection ${connectionId} no longer exists`);
    this.schedule.restart(Date.now() + this.config.reconcileIntervalSeconds * 1000);
    return { started };
  }

  /** The reconciliation schedule: when next due, and the last failure to start one, if any. */
  reconcileState(): ReconcileState {
    return this.schedule.state();
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const backlog = this.prune(now);
    let next = now + this.config.retentionIntervalSeconds * 1000;
    const connectionId = this.connectionId;
    if (connectionId !== null) {
      const reconcileAt = await this.schedule.run(now, this.config.reconcileIntervalSeconds * 1000, () =>
        this.startReconciliation(connectionId, now),
      );
      if (reconcileAt !== null) next = Math.min(next, reconcileAt);
    }
    if (connectionId !== null) {
      // The net under a courier's lost alarm: every destination with a delivery due is woken.
      for (const id of this.destinations.dueDestinations(now)) this.woken.add(id);
      await this.wakeCouriers(connectionId);
    }
    if (backlog) next = now + BACKLOG_RETRY_MS;
    await this.ctx.storage.setAlarm(next);
  }

  /**
   * Starts a reconcile job unless a backfill or reconciliation is active. Returns false when the
   * connection is gone (no more reconciliations). Throws when the job could not be started.
   */
  private async startReconciliation(connectionId: string, now: number): Promise<boolean> {
    return startReconcileJob(this.env, connectionId, {
      active: (kinds) => this.jobs.active(kinds),
      create: (input) => this.jobs.create(input, new Date(now)),
      abandon: (id, reason) => void this.jobs.finish(id, "failed", new Date(), reason),
    });
  }

  /** One slice of each kind of pruning; true when a slice was full (more is left). */
  private prune(now: number): boolean {
    const c = this.config;
    const counts = {
      feed: this.feed().prune(new Date(now - c.feedRetentionSeconds * 1000), PRUNE_SLICE_ROWS),
      webhookIds: this.ctx.storage.sql
        .exec(
          `DELETE FROM processed_webhooks WHERE webhook_id IN
             (SELECT webhook_id FROM processed_webhooks WHERE processed_at < ? LIMIT ?) RETURNING webhook_id`,
          now - c.webhookIdRetentionSeconds * 1000,
          PRUNE_SLICE_ROWS,
        )
        .toArray().length,
      idempotencyKeys: this.idempotency.prune(now, PRUNE_SLICE_ROWS),
      jobs: this.jobs.prune(new Date(now - c.jobRetentionSeconds * 1000), PRUNE_SLICE_ROWS),
      deliveries: this.destinations.prune(now - c.feedRetentionSeconds * 1000, PRUNE_SLICE_ROWS),
      cachedContacts: this.ctx.storage.sql
        .exec(
          `DELETE FROM cached_contacts WHERE contact_id IN
             (SELECT contact_id FROM cached_contacts WHERE until < ? LIMIT ?) RETURNING contact_id`,
          now,
          PRUNE_SLICE_ROWS,
        )
        .toArray().length,
    };
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total > 0) log("info", "connection data pruned", { connectionId: this.connectionId, ...counts });
    return Object.values(counts).some((n) => n >= PRUNE_SLICE_ROWS);
  }

  // ---- mirror and feed ----

  private feed(): FeedStore {
    return new FeedStore(
      this.ctx.storage,
      this.db,
      this.connectionId ?? "",
      (entries) => {
        for (const id of this.destinations.enqueue(entries, Date.now())) this.woken.add(id);
      },
      () => this.mappings.list(),
    );
  }

  /** Wakes the couriers of the destinations that got deliveries since the last call. */
  private async wakeCouriers(connectionId: string): Promise<void> {
    const ids = [...this.woken];
    this.woken.clear();
    await Promise.all(
      ids.map((id) =>
        courierOf(this.env, connectionId, id)
          .wake(connectionId, id)
          .catch((error: unknown) =>
            // The object's alarm wakes couriers of due deliveries: nothing is lost, only later.
            log("warn", "destination courier not woken", {
              connectionId,
              destinationId: id,
              ...errorFields(error),
            }),
          ),
      ),
    );
  }

  /**
   * Applies webhook changes in order, each in its own transaction (one that fails is reported
   * alone, `{error}`, and the others stand), deduplicated by `webhookId`. Returns each outcome and
   * the cached copies to invalidate (only contacts that may be cached).
   */
  async applyWebhookChanges(connectionId: string, changes: IncomingChange[]): Promise<WebhookApplyResult> {
    this.attach(connectionId);
    await this.ensureAlarm();
    const feed = this.feed();
    const now = new Date();
    const outcomes = changes.map((change): ApplyOutcome | { error: string } => {
      try {
        return feed.applyChange(change, now);
      } catch (error) {
        log("warn", "change not applied", { connectionId, eventId: change.eventId, ...errorFields(error) });
        return { error: error instanceof Error ? error.message : String(error) };
      }
    });
    const applied = changes.filter((_, i) => outcomes[i] === "appended" || outcomes[i] === "stale");
    await this.wakeCouriers(connectionId);
    return { outcomes, invalidate: this.invalidations(applied, now.getTime()) };
  }

  /**
   * Applies one page of Acme's contacts (a backfill's or a reconciliation's) to the mirror and the
   * feed (see `FeedStore.applyAcmePage`). Returns how many were appended and the cached copies
   * to invalidate.
   */
  async applyAcmePage(
    connectionId: string,
    contacts: AcmeContact[],
    source: "backfill" | "reconciliation",
  ): Promise<{ appended: number; invalidate: CacheInvalidation[] }> {
    this.attach(connectionId);
    await this.ensureAlarm();
    const now = new Date();
    const { changes, appended } = this.feed().applyAcmePage(contacts, source, now);
    await this.wakeCouriers(connectionId);
    return { appended, invalidate: this.invalidations(changes, now.getTime()) };
  }

  /** Of these changes, those whose contact may have a copy in KV, with the floor for it. */
  private invalidations(changes: IncomingChange[], now: number): CacheInvalidation[] {
    if (changes.length === 0) return [];
    const cached = new Set(
      this.ctx.storage.sql
        .exec<{ contact_id: string }>(
          `SELECT contact_id FROM cached_contacts
           WHERE until >= ? AND contact_id IN (SELECT value FROM json_each(?))`,
          now,
          JSON.stringify(changes.map((c) => c.contact.id)),
        )
        .toArray()
        .map((r) => r.contact_id),
    );
    return changes
      .filter((c) => cached.has(c.contact.id))
      .map((c) => ({ contactId: c.contact.id, minVersion: cacheFloor(c) }));
  }

  /**
   * Records that a copy of the contact at `version` is about to be written to KV, to stay there
   * until `until` (epoch ms), so later changes invalidate it. False when the mirror already holds
   * a newer version (the copy is outdated: do not write it).
   */
  noteCached(contactId: string, version: number, until: number): boolean {
    const newer = this.ctx.storage.sql
      .exec("SELECT 1 FROM contact_mirror WHERE contact_id = ? AND version > ?", contactId, version)
      .toArray().length;
    if (newer > 0) return false;
    this.ctx.storage.sql.exec(
      `INSERT INTO cached_contacts (contact_id, until) VALUES (?1, ?2)
       ON CONFLICT (contact_id) DO UPDATE SET until = MAX(until, ?2)`,
      contactId,
      until,
    );
    return true;
  }

  /** The feed after `after` (see `FeedStore.changesAfter`). */
  changesAfter(after: number, limit: number, selection: FeedSelection = {}): FeedPage {
    return this.feed().changesAfter(after, limit, selection);
  }

  /** The newest changes, newest first (see `FeedStore.changesBefore`). */
  changesBefore(before: number | undefined, limit: number, selection: FeedSelection = {}): ChangeEvent[] {
    return this.feed().changesBefore(before, limit, selection);
  }

  /** Mirror size, the feed's last and oldest-served sequence numbers. */
  counts(): { contacts: number; deleted: number; lastSeq: number; prunedThrough: number } {
    const feed = this.feed();
    return { ...feed.counts(), prunedThrough: feed.prunedThrough() };
  }

  /**
   * What the console shows of the connection's data: the mirror's size, the feed's last sequence
   * number, the last backfill or reconciliation that ended, and the reconciliation schedule.
   */
  overview(): ConnectionDataOverview {
    return {
      ...this.counts(),
      lastSync: this.jobs.lastSync(),
      reconcile: this.schedule.state(),
    };
  }

  // ---- custom fields ----

  /** The connection's custom-field mapping, by API name. */
  fieldMappings(): CustomFieldMapping[] {
    return this.mappings.list();
  }

  /**
   * Replaces the connection's custom-field mapping as a whole (checked by the caller against the
   * API's names and Acme's properties); returns it as stored, or null (nothing changed) when an
   * API name or an Acme property comes twice.
   */
  replaceFieldMappings(connectionId: string, mappings: CustomFieldMapping[]): CustomFieldMapping[] | null {
    this.attach(connectionId);
    return this.mappings.replace(mappings);
  }

  // ---- idempotency ----

  /** See `IdempotencyStore.start`. */
  idempotencyStart(key: string, requestHash: string, now?: number): IdempotencyStart {
    void this.ensureAlarm();
    return this.idempotency.start(key, requestHash, now);
  }

  /** See `IdempotencyStore.complete`. */
  idempotencyComplete(key: string, response: StoredResponse): void {
    this.idempotency.complete(key, response);
  }

  /** See `IdempotencyStore.release`. */
  idempotencyRelease(key: string): void {
    this.idempotency.release(key);
  }

  // ---- jobs ----

  /** Stores a queued job (see `JobStore.create`). */
  async createJob(connectionId: string, input: NewJob): Promise<JobRow> {
    this.attach(connectionId);
    await this.ensureAlarm();
    return this.jobs.create(input);
  }

  /** The job, or null (pruned, or never this connection's). */
  findJob(id: string): JobRow | null {
    return this.jobs.find(id);
  }

  /** Newest first (see `JobStore.list`). */
  listJobs(page: JobPage): JobRow[] {
    return this.jobs.list(page);
  }

  /** An active job of these kinds, if any. */
  activeJob(kinds: JobKind[]): JobRow | null {
    return this.jobs.active(kinds);
  }

  /** See `JobStore.requestCancel`. */
  requestCancel(id: string): boolean {
    return this.jobs.requestCancel(id);
  }

  /** See `JobStore.errors`. */
  jobErrors(jobId: string, page: { after: number; limit: number }): RowError[] {
    return this.jobs.errors(jobId, page);
  }

  /** See `JobStore.markRunning`; returns the job as it is now. */
  markRunning(id: string, now: Date): JobRow | null {
    this.jobs.markRunning(id, now);
    return this.jobs.find(id);
  }

  /** See `JobStore.chunkAt`. */
  chunkAt(jobId: string, row: number): { firstRow: number; rows: RawRow[] } | null {
    return this.jobs.chunkAt(jobId, row);
  }

  /** See `JobStore.commitProgress`. */
  commitProgress(jobId: string, progress: Progress): boolean {
    return this.jobs.commitProgress(jobId, progress);
  }

  /** See `JobStore.extendLease`. */
  extendLease(jobId: string, leaseUntil: number): void {
    this.jobs.extendLease(jobId, leaseUntil);
  }

  /** See `JobStore.setInstance`. */
  setJobInstance(jobId: string, instanceId: string): void {
    this.jobs.setInstance(jobId, instanceId);
  }

  /** See `JobStore.finish`. */
  finishJob(
    jobId: string,
    requested: FinishedStatus,
    now: Date,
    failure: string | null = null,
  ): FinishedStatus | null {
    return this.jobs.finish(jobId, requested, now, failure);
  }

  /**
   * For the stalled-job sweep: the job's state, and when its lease ran out by `now` (epoch ms),
   * the lease moved to `now + leaseMs` (so one sweep restarts it once).
   */
  sweepJob(
    jobId: string,
    now: number,
    leaseMs: number,
  ): { state: "gone" | "finished" | "alive" | "stalled"; leaseUntil: number; job: JobRow | null } {
    const job = this.jobs.find(jobId);
    if (!job) return { state: "gone", leaseUntil: 0, job: null };
    if (job.status !== "queued" && job.status !== "running") return { state: "finished", leaseUntil: 0, job };
    if (job.leaseUntil >= now) return { state: "alive", leaseUntil: job.leaseUntil, job };
    this.jobs.extendLease(jobId, now + leaseMs);
    return { state: "stalled", leaseUntil: now + leaseMs, job };
  }

  // ---- destinations ----

  private sealContext(connectionId: string, destinationId: string): string {
    return `${connectionId}:destination:${destinationId}`;
  }

  /** Creates an enabled destination with a new signing secret; the secret is returned this once. */
  async createDestination(
    connectionId: string,
    input: { url: string; events: string[]; description: string | null },
  ): Promise<{ destination: DestinationRow; secret: string }> {
    this.attach(connectionId);
    await this.ensureAlarm();
    const id = newId("dst");
    const secret = newWebhookSecret();
    const secretEnc = await loadIntegrationConfig(this.env).secretKeys.seal(
      secret,
      this.sealContext(connectionId, id),
    );
    return { destination: this.destinations.create({ ...input, id, secretEnc }, new Date()), secret };
  }

  /** Every destination of the connection. */
  listDestinations(): DestinationRow[] {
    return this.destinations.list();
  }

  /** The destination, or null. */
  getDestination(id: string): DestinationRow | null {
    return this.destinations.get(id);
  }

  /** See `DestinationStore.update`. */
  async updateDestination(
    id: string,
    patch: { url?: string; events?: string[]; description?: string | null; status?: DestinationStatus },
  ): Promise<DestinationRow | null> {
    const row = this.destinations.update(id, patch, new Date());
    // Enabled again: what is pending for it (recovered while it was disabled, say) goes now.
    const connectionId = this.connectionId;
    if (row?.status === "enabled" && patch.status === "enabled" && connectionId !== null) {
      if (this.destinations.nextDue(id) !== null) {
        this.woken.add(id);
        await this.wakeCouriers(connectionId);
      }
    }
    return row;
  }

  /** See `DestinationStore.delete`. */
  deleteDestination(id: string): boolean {
    return this.destinations.delete(id);
  }

  /** A new signing secret, returned this once; the previous one signs too for 24 hours. Null: no such destination. */
  async rotateDestinationSecret(
    connectionId: string,
    id: string,
  ): Promise<{ destination: DestinationRow; secret: string } | null> {
    if (!this.destinations.get(id)) return null;
    const secret = newWebhookSecret();
    const secretEnc = await loadIntegrationConfig(this.env).secretKeys.seal(
      secret,
      this.sealContext(connectionId, id),
    );
    const destination = this.destinations.rotate(id, secretEnc, new Date());
    return destination ? { destination, secret } : null;
  }

  /**
   * For the destination's courier: up to `limit` deliveries due by `now` (its clock, epoch ms), leased to it, with the URL and the
   * secrets to sign with (the previous one too while it is valid); no destination when it was
   * deleted or disabled. `nextDue`: when the next is due once these are done (epoch ms), or null.
   */
  async claimDeliveries(
    destinationId: string,
    limit: number,
    now: number,
  ): Promise<{
    destination: { url: string; secrets: string[] } | null;
    deliveries: ClaimedDelivery[];
    nextDue: number | null;
  }> {
    const row = this.destinations.get(destinationId);
    const connectionId = this.connectionId;
    if (row?.status !== "enabled" || connectionId === null) {
      return { destination: null, deliveries: [], nextDue: null };
    }
    const deliveries = this.destinations.claim(destinationId, limit, now, this.mappings.list());
    if (deliveries.length === 0) {
      return { destination: null, deliveries, nextDue: this.destinations.nextDue(destinationId) };
    }
    const keys = loadIntegrationConfig(this.env).secretKeys;
    const context = this.sealContext(connectionId, destinationId);
    const secrets = [await keys.open(row.secretEnc, context)];
    if (row.previousSecretEnc && (row.previousUntil ?? 0) > now) {
      secrets.push(await keys.open(row.previousSecretEnc, context));
    }
    return { destination: { url: row.url, secrets }, deliveries, nextDue: null };
  }

  /**
   * See `DestinationStore.record` (`now`: the courier's clock, epoch ms); returns when the
   * destination's next delivery is due, or null.
   */
  recordDeliveries(destinationId: string, reports: AttemptReport[], now: number): number | null {
    return this.destinations.record(destinationId, reports, now);
  }

  /** Sends one delivery again now; null when the destination has no such delivery. */
  async retryDelivery(
    connectionId: string,
    destinationId: string,
    deliveryId: string,
  ): Promise<{ id: string; seq: number } | null> {
    const retried = this.destinations.retry(destinationId, deliveryId, Date.now());
    if (retried) {
      this.woken.add(destinationId);
      await this.wakeCouriers(connectionId);
    }
    return retried;
  }

  /** Sends again every entry since `since` (ISO) not delivered to the destination; how many. */
  async recoverDeliveries(connectionId: string, destinationId: string, since: string): Promise<number> {
    const count = this.destinations.recover(destinationId, since, Date.now());
    if (count > 0) {
      this.woken.add(destinationId);
      await this.wakeCouriers(connectionId);
    }
    return count;
  }

  /** The destination's delivery log, newest first. */
  deliveryAttempts(
    destinationId: string,
    page: { limit: number; before?: string | undefined; status?: DeliveryStatus | undefined },
  ): DeliveryAttemptRow[] {
    return this.destinations.attempts(destinationId, page);
  }

  /** See `DestinationStore.deliveryStates`. */
  deliveryStates(destinationId: string, ids: string[]): DeliveryState[] {
    return this.destinations.deliveryStates(destinationId, ids);
  }
}
