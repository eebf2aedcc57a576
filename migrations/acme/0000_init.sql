CREATE TABLE `clients` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`secret_hash` text NOT NULL,
	`scopes` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `contacts` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`acme_first_name` text,
	`acme_last_name` text,
	`acme_email` text NOT NULL,
	`email_key` text NOT NULL,
	`acme_phone` text,
	`acme_company` text,
	`acme_title` text,
	`acme_notes` text,
	`acme_version` integer NOT NULL,
	`acme_created_at` text NOT NULL,
	`acme_updated_at` text NOT NULL,
	`acme_deleted_at` text
);
--> statement-breakpoint
CREATE INDEX `contacts_account_id_idx` ON `contacts` (`account_id`,`id`);--> statement-breakpoint
CREATE INDEX `contacts_account_updated_idx` ON `contacts` (`account_id`,`acme_updated_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `contacts_live_email_uq` ON `contacts` (`account_id`,`email_key`) WHERE acme_deleted_at IS NULL;--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` text NOT NULL
);
