// Retention of the OAuth tables, which grow with traffic (every approval, every refresh): the
// cron deletes in pages what no rule needs any more.

/** How long spent and expired codes, spent refresh tokens and revoked grants are kept, ms. */
export const OAUTH_RETENTION_MS = 30 * 86_400_000;
/** How long the token log keeps an entry, ms. */
export const TOKEN_LOG_RETENTION_MS = 7 * 86_400_000;
/** Rows deleted per kind per run (each delete is one statement binding two values). */
export const OAUTH_PRUNE_PAGE = 1000;

/** How many rows one pruning run deleted, by kind. */
export interface OAuthPruned {
  codes: number;
  refreshTokens: number;
  grants: number;
  tokenLog: number;
}

/**
 * Deletes, up to OAUTH_PRUNE_PAGE of each kind, as of `now` (epoch ms): codes expired more than
 * OAUTH_RETENTION_MS ago; refresh tokens spent that long ago (a spent token older than that,
 * presented again, is then only unknown: `invalid_grant` without revoking its grant, which by
 * then has rotated thirty days of tokens past it); grants revoked that long ago, with all their
 * refresh tokens; token-log entries older than TOKEN_LOG_RETENTION_MS. One D1 batch of five
 * statements; D1 errors propagate.
 */
export async function pruneOAuth(db: D1Database, now: number = Date.now()): Promise<OAuthPruned> {
  const horizon = new Date(now - OAUTH_RETENTION_MS).toISOString();
  const page = OAUTH_PRUNE_PAGE;
  const [codes, tokens, grantTokens, grants, log] = await db.batch([
    db
      .prepare(
        `DELETE FROM oauth_codes WHERE code_hash IN
           (SELECT code_hash FROM oauth_codes WHERE expires_at < ? LIMIT ${page})`,
      )
      .bind(now - OAUTH_RETENTION_MS),
    db
      .prepare(
        `DELETE FROM oauth_refresh_tokens WHERE id IN
           (SELECT id FROM oauth_refresh_tokens WHERE used_at IS NOT NULL AND used_at < ? LIMIT ${page})`,
      )
      .bind(horizon),
    db
      .prepare(
        `DELETE FROM oauth_refresh_tokens WHERE grant_id IN
           (SELECT id FROM oauth_grants WHERE revoked_at IS NOT NULL AND revoked_at < ? LIMIT ${page})`,
      )
      .bind(horizon),
    db
      .prepare(
        `DELETE FROM oauth_grants WHERE id IN
           (SELECT id FROM oauth_grants WHERE revoked_at IS NOT NULL AND revoked_at < ? LIMIT ${page})`,
      )
      .bind(horizon),
    db
      .prepare(
        `DELETE FROM oauth_token_log WHERE id IN (SELECT id FROM oauth_token_log WHERE at < ? LIMIT ${page})`,
      )
      .bind(new Date(now - TOKEN_LOG_RETENTION_MS).toISOString()),
  ]);
  const changes = (result: D1Result | undefined) => result?.meta.changes ?? 0;
  return {
    codes: changes(codes),
    refreshTokens: changes(tokens) + changes(grantTokens),
    grants: changes(grants),
    tokenLog: changes(log),
  };
}
