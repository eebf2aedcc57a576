CREATE INDEX `oauth_codes_expires_idx` ON `oauth_codes` (`expires_at`);--> statement-breakpoint
CREATE INDEX `oauth_grants_revoked_idx` ON `oauth_grants` (`revoked_at`);--> statement-breakpoint
CREATE INDEX `oauth_refresh_tokens_used_idx` ON `oauth_refresh_tokens` (`used_at`);--> statement-breakpoint
CREATE INDEX `oauth_token_log_at_idx` ON `oauth_token_log` (`at`);