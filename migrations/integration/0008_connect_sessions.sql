CREATE TABLE `connect_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`state_hash` text NOT NULL,
	`code_verifier_enc` text,
	`method` text NOT NULL,
	`end_user_id` text NOT NULL,
	`redirect_url` text,
	`connection_id` text,
	`created_at` text NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `connect_sessions_token_hash_unique` ON `connect_sessions` (`token_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `connect_sessions_state_hash_unique` ON `connect_sessions` (`state_hash`);--> statement-breakpoint
CREATE INDEX `connect_sessions_expires_idx` ON `connect_sessions` (`expires_at`);