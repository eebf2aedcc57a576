import { DurableObject } from "cloudflare:workers";
import type { ConnectionMethod } from "../db/schema.ts";

/**
 * A connect session (`POST /api/v1/admin/connect-sessions`): one end user's single-use link to the
 * hosted connect page. Nothing a stranger could use is kept in the clear: the link's token and the
 * OAuth `state` only as SHA-256 hashes, the PKCE verifier sealed (AAD `${id}:pkce`). Times are
 * epoch ms.
 */
export interface ConnectSessionRow {
  id: string;
  tokenHash: string;
  /** The OAuth `state` sent to Acme (derived from the token; see connect-tokens.ts), hashed: the object's name. */
  stateHash: string;
  /** The PKCE code_verifier, sealed; null for a client-credentials session. */
  codeVerifierEnc: string | null;
  method: ConnectionMethod;
  endUserId: string;
  redirectUrl: string | null;
  /** The connection to repair in place (null: find or create one). */
  connectionId: string | null;
  createdAt: string;
  expiresAt: number;
  /** When the session was used up (the callback claimed it, or the form connected); null before. */
  usedAt: number | null;
}

/** How long a session is kept after it expired (used or not), for support questions: a day, ms. */
export const CONNECT_SESSION_RETENTION_MS = 86_400_000;

const ROW_KEY = "session";

/**
 * One connect session, in its own Durable Object named by its state's hash (connect sessions come
 * before any connection, so they have no connection's object to live in, and D1 keeps only the
 * directory). Its claim is atomic (one object, one writer), and its alarm deletes it a day after it
 * expires, so nothing of it outlives that.
 */
export class ConnectSession extends DurableObject<Env> {
  /** Stores the session (once: an object that holds one refuses another) and sets its deletion. */
  async create(row: ConnectSessionRow): Promise<boolean> {
    if (this.ctx.storage.kv.get(ROW_KEY) !== undefined) return false;
    this.ctx.storage.kv.put(ROW_KEY, row);
    await this.ctx.storage.setAlarm(row.expiresAt + CONNECT_SESSION_RETENTION_MS);
    return true;
  }

  /** The session, or null (never stored, or deleted by its alarm). */
  read(): ConnectSessionRow | null {
    return this.ctx.storage.kv.get<ConnectSessionRow>(ROW_KEY) ?? null;
  }

  /**
   * Uses the session up at `now` (epoch ms) and returns it as it was; null when there is none or it
   * was used already, or, with `unexpiredOnly`, when it has expired.
   */
  claim(now: number, unexpiredOnly: boolean): ConnectSessionRow | null {
    const row = this.read();
    if (!row || row.usedAt !== null || (unexpiredOnly && row.expiresAt <= now)) return null;
    this.ctx.storage.kv.put<ConnectSessionRow>(ROW_KEY, { ...row, usedAt: now });
    return row;
  }

  /** Retention: the session is gone a day after it expired. */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
