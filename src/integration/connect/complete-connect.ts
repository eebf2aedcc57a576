import { and, asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import { errorFields, log } from "../../lib/logger.ts";
import { replaceWebhookSubscription } from "../admin/webhook-subscription.ts";
import { connectionWebhookUrl, findConnection } from "../connections/connection-store.ts";
import { createConnection, startBackfill } from "../connections/create-connection.ts";
import { installOAuthGrant, type OAuthGrantTokens } from "../connections/oauth-grant.ts";
import { acmeClientFor, type IntegrationEnv } from "../context.ts";
import { type ConnectionRow, connections } from "../db/schema.ts";
import { reconcileSince } from "../jobs/reconciliation.ts";
import { startJob } from "../jobs/start-job.ts";
import type { ConnectSessionRow } from "./session-object.ts";

/** Why a connect session could not end in a connection, as the `error` its redirect carries. */
export class ConnectFailure extends Error {
  constructor(
    readonly error: string,
    message: string,
  ) {
    super(message);
    this.name = "ConnectFailure";
  }
}

/** The name a connection made by a connect session gets (at most 100 characters, as the API's). */
function connectionName(endUserId: string): string {
  return `Acme (${endUserId})`.slice(0, 100);
}

/**
 * The OAuth connection a session repairs: its `connectionId`, which must be an OAuth connection
 * to the same Acme account (else ConnectFailure `account_mismatch`); or else the end user's
 * oldest OAuth connection to that account; null when there is none (a new one is made).
 */
async function oauthRepairTarget(
  db: D1Database,
  session: ConnectSessionRow,
  accountId: string,
): Promise<ConnectionRow | null> {
  if (session.connectionId !== null) {
    const target = await findConnection(db, session.connectionId);
    if (target?.method !== "oauth" || target.acmeClientId !== accountId) {
      throw new ConnectFailure(
        "account_mismatch",
        "The account approved at Acme is not the one this connection is for.",
      );
    }
    return target;
  }
  return (
    (await drizzle(db)
      .select()
      .from(connections)
      .where(
        and(
          eq(connections.method, "oauth"),
          eq(connections.endUserId, session.endUserId),
          eq(connections.acmeClientId, accountId),
        ),
      )
      .orderBy(asc(connections.createdAt))
      .limit(1)
      .get()) ?? null
  );
}

/**
 * After a connection was made or repaired: subscribes it to Acme's webhooks at `origin`, then
 * starts its backfill (new) or a reconciliation from where it stood (repaired). Neither failing
 * undoes the connection: each is logged, and the cron's overdue sweep starts a reconciliation
 * later; the webhook subscription can be made again with the admin API.
 */
async function startSync(
  c: Context<IntegrationEnv>,
  connection: ConnectionRow,
  origin: string,
  repaired: boolean,
): Promise<void> {
  try {
    await replaceWebhookSubscription(
      c.env.DB,
      c.var.config.secretKeys,
      acmeClientFor(c, connection),
      connection,
      connectionWebhookUrl(origin, connection.id),
    );
  } catch (error) {
    log("warn", "connect: webhook subscription failed", {
      connectionId: connection.id,
      ...errorFields(error),
    });
  }
  try {
    if (repaired) {
      await startJob(c.env, {
        connectionId: connection.id,
        kind: "reconcile",
        updatedSince: reconcileSince(connection),
      });
    } else {
      await startBackfill(c.env, connection.id);
    }
  } catch (error) {
    log("warn", "connect: sync job not started", { connectionId: connection.id, ...errorFields(error) });
  }
}

/**
 * Ends an OAuth connect session whose code Acme exchanged: repairs the session's connection (or
 * the end user's to the same account) in place, keeping its id and data, or creates one; installs
 * the grant (the refresh token sealed in its AcmeSession), subscribes it to Acme's webhooks and
 * starts its sync, all before returning its id. Throws ConnectFailure `account_mismatch` when the
 * session's connection belongs to another account (nothing changed).
 */
export async function completeOAuthConnect(
  c: Context<IntegrationEnv>,
  session: ConnectSessionRow,
  grant: { tokens: OAuthGrantTokens; accountId: string },
  origin: string,
): Promise<{ connectionId: string; repaired: boolean }> {
  const db = c.env.DB;
  const target = await oauthRepairTarget(db, session, grant.accountId);
  let connection: ConnectionRow;
  if (target) {
    connection = target;
    if (target.endUserId === null) {
      await drizzle(db)
        .update(connections)
        .set({ endUserId: session.endUserId })
        .where(eq(connections.id, target.id));
    }
  } else {
    connection = await createConnection(db, c.var.config, {
      name: connectionName(session.endUserId),
      acmeBaseUrl: null,
      acmeClientId: grant.accountId,
      acmeClientSecret: null,
      method: "oauth",
      endUserId: session.endUserId,
    });
  }
  await installOAuthGrant(c.env, c.var.config.secretKeys, connection.id, grant.tokens);
  await startSync(c, { ...connection, status: "active" }, origin, target !== null);
  return { connectionId: connection.id, repaired: target !== null };
}

/**
 * Ends a client-credentials connect session whose credentials Acme accepted: updates the
 * session's connection in place (its new secret, same id and data), or the end user's connection
 * with the same client id, or creates one; then subscribes it to Acme's webhooks and starts its
 * sync. `claim` uses the session up once the target is known and before anything is written; it
 * returning false (used meanwhile) throws ConnectFailure `session_used`, as a session's
 * connection for another client id throws `account_mismatch`, both with nothing changed.
 * Returns the connection's id.
 */
export async function completeClientCredentialsConnect(
  c: Context<IntegrationEnv>,
  session: ConnectSessionRow,
  credentials: { clientId: string; clientSecret: string },
  origin: string,
  claim: () => Promise<boolean>,
): Promise<{ connectionId: string; repaired: boolean }> {
  const db = c.env.DB;
  const { secretKeys } = c.var.config;
  let target: ConnectionRow | null = null;
  if (session.connectionId !== null) {
    target = await findConnection(db, session.connectionId);
    if (target?.method !== "client_credentials" || target.acmeClientId !== credentials.clientId) {
      throw new ConnectFailure(
        "account_mismatch",
        "These credentials are not for the Acme account this connection is for.",
      );
    }
  } else {
    target =
      (await drizzle(db)
        .select()
        .from(connections)
        .where(
          and(
            eq(connections.method, "client_credentials"),
            eq(connections.endUserId, session.endUserId),
            eq(connections.acmeClientId, credentials.clientId),
          ),
        )
        .orderBy(asc(connections.createdAt))
        .limit(1)
        .get()) ?? null;
  }
  if (!(await claim())) throw new ConnectFailure("session_used", "This connect link was used meanwhile.");
  let connection: ConnectionRow;
  if (target) {
    const update = {
      acmeClientSecretEnc: await secretKeys.seal(credentials.clientSecret, target.id),
      endUserId: session.endUserId,
      status: "active" as const,
    };
    await drizzle(db).update(connections).set(update).where(eq(connections.id, target.id));
    connection = { ...target, ...update };
  } else {
    connection = await createConnection(db, c.var.config, {
      name: connectionName(session.endUserId),
      acmeBaseUrl: null,
      acmeClientId: credentials.clientId,
      acmeClientSecret: credentials.clientSecret,
      method: "client_credentials",
      endUserId: session.endUserId,
    });
  }
  await startSync(c, connection, origin, target !== null);
  return { connectionId: connection.id, repaired: target !== null };
}
