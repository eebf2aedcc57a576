import { and, eq, gt, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { newId } from "../../lib/ids.ts";
import type { SecretKeyRing } from "../../lib/secret-box.ts";
import { type ConnectionMethod, type ConnectSessionRow, connectSessions } from "../db/schema.ts";
import { mintConnectToken, newCodeVerifier, secretHash, stateFor } from "./connect-tokens.ts";

/** What a connect session is for. */
export interface NewConnectSession {
  endUserId: string;
  method: ConnectionMethod;
  redirectUrl: string | null;
  /** The connection to repair in place; null to find or create one. */
  connectionId: string | null;
}

/** The AAD a session's PKCE verifier is sealed under. */
export function verifierContext(sessionId: string): string {
  return `${sessionId}:pkce`;
}

/**
 * Stores a new connect session living `ttlSeconds` from `now` (epoch ms) and returns its token,
 * shown once (D1 keeps its hash), with the row. An OAuth session gets its PKCE verifier, sealed
 * with `keys`. One D1 write.
 */
export async function createConnectSession(
  db: D1Database,
  secrets: { keys: SecretKeyRing; idTagKey: string },
  input: NewConnectSession,
  options: { now: number; ttlSeconds: number },
): Promise<{ token: string; row: ConnectSessionRow }> {
  const id = newId("cses");
  const token = await mintConnectToken(secrets.idTagKey);
  const row: ConnectSessionRow = {
    id,
    tokenHash: await secretHash(token),
    stateHash: await secretHash(await stateFor(secrets.idTagKey, token)),
    codeVerifierEnc:
      input.method === "oauth" ? await secrets.keys.seal(newCodeVerifier(), verifierContext(id)) : null,
    method: input.method,
    endUserId: input.endUserId,
    redirectUrl: input.redirectUrl,
    connectionId: input.connectionId,
    createdAt: new Date(options.now).toISOString(),
    expiresAt: options.now + options.ttlSeconds * 1000,
    usedAt: null,
  };
  await drizzle(db).insert(connectSessions).values(row);
  return { token, row };
}

/** The session whose token is `token` (looked up by its hash), or null. One D1 read. */
export async function findConnectSession(db: D1Database, token: string): Promise<ConnectSessionRow | null> {
  const tokenHash = await secretHash(token);
  return (
    (await drizzle(db)
      .select()
      .from(connectSessions)
      .where(eq(connectSessions.tokenHash, tokenHash))
      .get()) ?? null
  );
}

/** Whether a session can still be used at `now` (epoch ms): neither used nor expired. */
export function sessionUsable(row: ConnectSessionRow, now: number): boolean {
  return row.usedAt === null && row.expiresAt > now;
}

/**
 * Uses up the session whose OAuth `state` is `state`, whether or not it has expired (the caller
 * looks), and returns it; null when no session has this state or it was used already. Atomic (one
 * D1 statement), so of two callbacks with one state only one gets the session.
 */
export async function claimSessionByState(
  db: D1Database,
  state: string,
  now: number,
): Promise<ConnectSessionRow | null> {
  const stateHash = await secretHash(state);
  const row = await drizzle(db)
    .update(connectSessions)
    .set({ usedAt: now })
    .where(and(eq(connectSessions.stateHash, stateHash), isNull(connectSessions.usedAt)))
    .returning()
    .get();
  return row ?? null;
}

/**
 * Uses up the session `id` if it is still usable at `now`; returns false when it was used or has
 * expired meanwhile. Atomic (one D1 statement).
 */
export async function claimSession(db: D1Database, id: string, now: number): Promise<boolean> {
  const row = await drizzle(db)
    .update(connectSessions)
    .set({ usedAt: now })
    .where(
      and(eq(connectSessions.id, id), isNull(connectSessions.usedAt), gt(connectSessions.expiresAt, now)),
    )
    .returning({ id: connectSessions.id })
    .get();
  return row !== undefined;
}

/** How long a session is kept after it expired (used or not), for support questions: a day, ms. */
export const CONNECT_SESSION_RETENTION_MS = 86_400_000;

/** Sessions one cron run deletes at most (one D1 statement); more wait for the next run. */
export const CONNECT_SESSION_PRUNE_PAGE = 1000;

/**
 * Deletes connect sessions that expired more than a day before `now` (epoch ms), used or not
 * (a used one was used before it expired), oldest first, at most CONNECT_SESSION_PRUNE_PAGE, in
 * one D1 statement. Returns how many.
 */
export async function pruneConnectSessions(db: D1Database, now: number): Promise<{ deleted: number }> {
  const { results } = await db
    .prepare(
      `DELETE FROM connect_sessions WHERE id IN (
         SELECT id FROM connect_sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)
       RETURNING id`,
    )
    .bind(now - CONNECT_SESSION_RETENTION_MS, CONNECT_SESSION_PRUNE_PAGE)
    .all<{ id: string }>();
  return { deleted: results.length };
}
