-- acme_client_secret_enc becomes nullable (OAuth connections have no client secret), which SQLite
-- can only do by rebuilding the table. D1 ignores PRAGMA foreign_keys; deferring the checks to the
-- end of the migration's transaction lets api_keys keep pointing at the rebuilt table.
PRAGMA defer_foreign_keys = on;--> statement-breakpoint
CREATE TABLE `__new_connections` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`acme_base_url` text,
	`acme_client_id` text NOT NULL,
	`acme_client_secret_enc` text,
	`method` text DEFAULT 'client_credentials' NOT NULL,
	`end_user_id` text,
	`status` text DEFAULT 'active' NOT NULL,
	`webhook_secret_enc` text,
	`webhook_subscription_id` text,
	`reconciled_through` text,
	`schedule_checked_at` text,
	`created_at` text NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_connections`("id", "name", "acme_base_url", "acme_client_id", "acme_client_secret_enc", "webhook_secret_enc", "webhook_subscription_id", "reconciled_through", "schedule_checked_at", "created_at") SELECT "id", "name", "acme_base_url", "acme_client_id", "acme_client_secret_enc", "webhook_secret_enc", "webhook_subscription_id", "reconciled_through", "schedule_checked_at", "created_at" FROM `connections`;--> statement-breakpoint
DROP TABLE `connections`;--> statement-breakpoint
ALTER TABLE `__new_connections` RENAME TO `connections`;--> statement-breakpoint
PRAGMA defer_foreign_keys = off;--> statement-breakpoint
CREATE INDEX `connections_end_user_idx` ON `connections` (`end_user_id`);
