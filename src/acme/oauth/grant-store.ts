import { sha256Hex } from "../../lib/crypto.ts";
import { newId, randomSecret } from "../../lib/ids.ts";
import { PKCE_VALUE, s256Challenge } from "../../lib/pkce.ts";
import type { TokenLogOutcome } from "../db/schema.ts";

/** How long an authorization code may be exchanged, in seconds (RFC 6749 4.1.2 suggests 10 minutes at most). */
export const CODE_TTL_SECONDS = 60;

/** Why a grant was revoked, as `oauth_grants.revoked_reason` records it. */
export type RevokeReason = "code_reuse" | "refresh_token_reuse" | "revocation_request" | "admin";

/** What a successful exchange hands back to the token endpoint. */
export interface IssuedGrant {
  grantId: string;
  accountId: string;
  scope: string;
  /** The new refresh token, and its public id. */
  refreshToken: string;
  refreshTokenId: string;
  /** The refresh token presented and used up; null for a code exchange. */
  presentedRefreshTokenId: string | null;
}

/** A refused exchange: how the token log records it, and the reason for the RFC 6749 description. */
export interface RefusedGrant {
  outcome: Exclude<TokenLogOutcome, "issued">;
  description: string;
  grantId: string | null;
  refreshTokenId: string | null;
}

export type ExchangeResult = ({ ok: true } & IssuedGrant) | ({ ok: false } & RefusedGrant);

interface CodeRow {
  code_hash: string;
  app_client_id: string;
  account_id: string;
  redirect_uri: string;
  code_challenge: string;
  scope: string;
  expires_at: number;
  used_at: string | null;
  grant_id: string | null;
}

interface RefreshRow {
  id: string;
  grant_id: string;
  used_at: string | null;
  app_client_id: string;
  account_id: string;
  scope: string;
  revoked_at: string | null;
}

function refused(
  outcome: RefusedGrant["outcome"],
  description: string,
  grantId: string | null = null,
  refreshTokenId: string | null = null,
): ExchangeResult {
  return { ok: false, outcome, description, grantId, refreshTokenId };
}

/**
 * Codes, grants and refresh tokens in Acme's D1. Secrets (codes, refresh tokens) are stored as
 * SHA-256 hashes only. Every single-use step is one conditional UPDATE in a D1 batch (a
 * transaction), so of any number of concurrent presentations exactly one wins.
 */
export class GrantStore {
  constructor(private readonly db: D1Database) {}

  /** Stores a new single-use code (CODE_TTL_SECONDS from `now`, ms) and returns it (`ac_…`). */
  async createCode(input: {
    appClientId: string;
    accountId: string;
    userId: string;
    redirectUri: string;
    codeChallenge: string;
    scope: string;
    now: number;
  }): Promise<string> {
    const code = randomSecret(32, "ac_");
    await this.db
      .prepare(
        `INSERT INTO oauth_codes (code_hash, app_client_id, account_id, user_id, redirect_uri, code_challenge,
           scope, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        await sha256Hex(code),
        input.appClientId,
        input.accountId,
        input.userId,
        input.redirectUri,
        input.codeChallenge,
        input.scope,
        input.now + CODE_TTL_SECONDS * 1000,
        new Date(input.now).toISOString(),
      )
      .run();
    return code;
  }

  /**
   * RFC 6749 4.1.3 with RFC 7636 4.6: the code must exist, belong to the app, be unused and
   * unexpired, name the same redirect URI and match the verifier. A used code presented again
   * revokes the grant issued from it (RFC 6749 4.1.2). Only the winning exchange creates the
   * grant and its first refresh token, in the same transaction that marks the code used.
   */
  async exchangeCode(input: {
    appClientId: string;
    code: string;
    redirectUri: string;
    codeVerifier: string;
    now: number;
  }): Promise<ExchangeResult> {
    const codeHash = await sha256Hex(input.code);
    const row = await this.db
      .prepare("SELECT * FROM oauth_codes WHERE code_hash = ?")
      .bind(codeHash)
      .first<CodeRow>();
    if (!row || row.app_client_id !== input.appClientId) {
      return refused("invalid", "The authorization code is invalid.");
    }
    if (row.used_at !== null) {
      if (row.grant_id) await this.revokeGrant(row.grant_id, "code_reuse", input.now);
      return refused(
        "reused",
        "The authorization code was already used; its grant is revoked.",
        row.grant_id,
      );
    }
    if (row.expires_at <= input.now) return refused("invalid", "The authorization code expired.");
    if (row.redirect_uri !== input.redirectUri) {
      return refused("invalid", "redirect_uri differs from the authorization request's.");
    }
    if (
      !PKCE_VALUE.test(input.codeVerifier) ||
      (await s256Challenge(input.codeVerifier)) !== row.code_challenge
    ) {
      return refused("invalid", "The code_verifier does not match the code_challenge.");
    }

    const grantId = newId("grt", input.now);
    const refreshTokenId = newId("rtid", input.now);
    const refreshToken = randomSecret(32, "rt_");
    const at = new Date(input.now).toISOString();
    const [used] = await this.db.batch<{ code_hash: string }>([
      this.db
        .prepare(
          "UPDATE oauth_codes SET used_at = ?, grant_id = ? WHERE code_hash = ? AND used_at IS NULL RETURNING code_hash",
        )
        .bind(at, grantId, codeHash),
      this.db
        .prepare(
          `INSERT INTO oauth_grants (id, app_client_id, account_id, user_id, scope, created_at)
           SELECT ?, app_client_id, account_id, user_id, scope, ? FROM oauth_codes WHERE code_hash = ? AND grant_id = ?`,
        )
        .bind(grantId, at, codeHash, grantId),
      this.db
        .prepare(
          `INSERT INTO oauth_refresh_tokens (id, token_hash, grant_id, issued_at)
           SELECT ?, ?, id, ? FROM oauth_grants WHERE id = ?`,
        )
        .bind(refreshTokenId, await sha256Hex(refreshToken), at, grantId),
    ]);
    if (used?.results.length !== 1) {
      // Another exchange of the same code won between the read and the update: a reuse.
      const winner = await this.db
        .prepare("SELECT grant_id FROM oauth_codes WHERE code_hash = ?")
        .bind(codeHash)
        .first<{ grant_id: string | null }>();
      if (winner?.grant_id) await this.revokeGrant(winner.grant_id, "code_reuse", input.now);
      return refused(
        "reused",
        "The authorization code was already used; its grant is revoked.",
        winner?.grant_id ?? null,
      );
    }
    return {
      ok: true,
      grantId,
      accountId: row.account_id,
      scope: row.scope,
      refreshToken,
      refreshTokenId,
      presentedRefreshTokenId: null,
    };
  }

  /**
   * The refresh_token grant with rotation (RFC 9700 4.14.2): the presented token is used up and a
   * new one issued, atomically; a used token presented again revokes the whole grant. `scope`, when
   * given, must be within the grant's (then the access token is narrowed; the grant is not).
   */
  async refresh(input: {
    appClientId: string;
    refreshToken: string;
    scope: string | undefined;
    now: number;
  }): Promise<ExchangeResult | { ok: false; invalidScope: string; grantId: string; refreshTokenId: string }> {
    const tokenHash = await sha256Hex(input.refreshToken);
    const row = await this.db
      .prepare(
        `SELECT t.id, t.grant_id, t.used_at, g.app_client_id, g.account_id, g.scope, g.revoked_at
         FROM oauth_refresh_tokens t JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = ?`,
      )
      .bind(tokenHash)
      .first<RefreshRow>();
    if (!row || row.app_client_id !== input.appClientId)
      return refused("invalid", "The refresh token is invalid.");
    if (row.revoked_at !== null) {
      return refused("revoked", "The grant of this refresh token was revoked.", row.grant_id, row.id);
    }
    if (row.used_at !== null) {
      await this.revokeGrant(row.grant_id, "refresh_token_reuse", input.now);
      return refused(
        "reused",
        "The refresh token was already used; its grant is revoked.",
        row.grant_id,
        row.id,
      );
    }
    let scope = row.scope;
    if (input.scope !== undefined && input.scope.trim() !== "") {
      const granted = new Set(row.scope.split(" "));
      const asked = [...new Set(input.scope.split(" ").filter(Boolean))];
      const beyond = asked.filter((s) => !granted.has(s));
      if (beyond.length > 0) {
        return { ok: false, invalidScope: beyond.join(" "), grantId: row.grant_id, refreshTokenId: row.id };
      }
      scope = asked.join(" ");
    }

    const nextId = newId("rtid", input.now);
    const next = randomSecret(32, "rt_");
    const at = new Date(input.now).toISOString();
    const [used] = await this.db.batch<{ id: string }>([
      this.db
        .prepare(
          `UPDATE oauth_refresh_tokens SET used_at = ?, replaced_by = ?
           WHERE id = ? AND used_at IS NULL
             AND EXISTS (SELECT 1 FROM oauth_grants WHERE id = ? AND revoked_at IS NULL)
           RETURNING id`,
        )
        .bind(at, nextId, row.id, row.grant_id),
      this.db
        .prepare(
          `INSERT INTO oauth_refresh_tokens (id, token_hash, grant_id, issued_at)
           SELECT ?, ?, grant_id, ? FROM oauth_refresh_tokens WHERE id = ? AND replaced_by = ?`,
        )
        .bind(nextId, await sha256Hex(next), at, row.id, nextId),
    ]);
    if (used?.results.length !== 1) {
      // Lost to a concurrent presentation of the same token (a replay), or the grant was revoked meanwhile.
      const now = await this.db
        .prepare(
          `SELECT t.used_at, g.revoked_at FROM oauth_refresh_tokens t JOIN oauth_grants g ON g.id = t.grant_id
           WHERE t.id = ?`,
        )
        .bind(row.id)
        .first<{ used_at: string | null; revoked_at: string | null }>();
      if (now?.used_at) {
        await this.revokeGrant(row.grant_id, "refresh_token_reuse", input.now);
        return refused(
          "reused",
          "The refresh token was already used; its grant is revoked.",
          row.grant_id,
          row.id,
        );
      }
      return refused("revoked", "The grant of this refresh token was revoked.", row.grant_id, row.id);
    }
    return {
      ok: true,
      grantId: row.grant_id,
      accountId: row.account_id,
      scope,
      refreshToken: next,
      refreshTokenId: nextId,
      presentedRefreshTokenId: row.id,
    };
  }

  /** Revokes a grant (idempotent: the first revocation's time and reason stay). */
  async revokeGrant(grantId: string, reason: RevokeReason, now: number): Promise<void> {
    await this.db
      .prepare(
        "UPDATE oauth_grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
      )
      .bind(new Date(now).toISOString(), reason, grantId)
      .run();
  }

  /** The grant of a refresh token, if the token exists and was issued to `appClientId`. */
  async grantOfRefreshToken(appClientId: string, refreshToken: string): Promise<string | null> {
    const row = await this.db
      .prepare(
        `SELECT g.id FROM oauth_refresh_tokens t JOIN oauth_grants g ON g.id = t.grant_id
         WHERE t.token_hash = ? AND g.app_client_id = ?`,
      )
      .bind(await sha256Hex(refreshToken), appClientId)
      .first<{ id: string }>();
    return row?.id ?? null;
  }

  /** Whether a grant exists and is not revoked (what access tokens of the grant depend on). */
  async isGrantActive(grantId: string): Promise<boolean> {
    const row = await this.db
      .prepare("SELECT revoked_at FROM oauth_grants WHERE id = ?")
      .bind(grantId)
      .first<{ revoked_at: string | null }>();
    return row !== null && row.revoked_at === null;
  }

  /** Appends one entry to the app's token log. */
  async log(entry: {
    appClientId: string;
    grantType: string;
    outcome: TokenLogOutcome;
    grantId: string | null;
    refreshTokenId: string | null;
    now: number;
  }): Promise<void> {
    await this.db
      .prepare(
        `INSERT INTO oauth_token_log (id, app_client_id, at, grant_type, grant_id, refresh_token_id, outcome)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        newId("tl", entry.now),
        entry.appClientId,
        new Date(entry.now).toISOString(),
        entry.grantType.slice(0, 64),
        entry.grantId,
        entry.refreshTokenId,
        entry.outcome,
      )
      .run();
  }
}
