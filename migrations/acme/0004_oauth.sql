CREATE TABLE `account_users` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`email` text NOT NULL,
	`email_key` text NOT NULL,
	`password_hash` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `account_users_email_key_uq` ON `account_users` (`email_key`);--> statement-breakpoint
CREATE TABLE `oauth_apps` (
	`client_id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`secret_hash` text NOT NULL,
	`redirect_uris` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `oauth_codes` (
	`code_hash` text PRIMARY KEY NOT NULL,
	`app_client_id` text NOT NULL,
	`account_id` text NOT NULL,
	`user_id` text NOT NULL,
	`redirect_uri` text NOT NULL,
	`code_challenge` text NOT NULL,
	`scope` text NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` text NOT NULL,
	`used_at` text,
	`grant_id` text
);
--> statement-breakpoint
CREATE TABLE `oauth_grants` (
	`id` text PRIMARY KEY NOT NULL,
	`app_client_id` text NOT NULL,
	`account_id` text NOT NULL,
	`user_id` text NOT NULL,
	`scope` text NOT NULL,
	`created_at` text NOT NULL,
	`revoked_at` text,
	`revoked_reason` text
);
--> statement-breakpoint
CREATE INDEX `oauth_grants_app_account_idx` ON `oauth_grants` (`app_client_id`,`account_id`);--> statement-breakpoint
CREATE TABLE `oauth_refresh_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`grant_id` text NOT NULL,
	`issued_at` text NOT NULL,
	`used_at` text,
	`replaced_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `oauth_refresh_tokens_hash_uq` ON `oauth_refresh_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `oauth_refresh_tokens_grant_idx` ON `oauth_refresh_tokens` (`grant_id`);--> statement-breakpoint
CREATE TABLE `oauth_token_log` (
	`id` text PRIMARY KEY NOT NULL,
	`app_client_id` text NOT NULL,
	`at` text NOT NULL,
	`grant_type` text NOT NULL,
	`grant_id` text,
	`refresh_token_id` text,
	`outcome` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `oauth_token_log_app_idx` ON `oauth_token_log` (`app_client_id`,`id`);