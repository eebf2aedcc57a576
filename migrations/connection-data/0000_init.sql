CREATE TABLE `cached_contacts` (
	`contact_id` text PRIMARY KEY NOT NULL,
	`until` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `cached_contacts_until_idx` ON `cached_contacts` (`until`);--> statement-breakpoint
CREATE TABLE `change_events` (
	`seq` integer PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`type` text NOT NULL,
	`contact_id` text NOT NULL,
	`version` integer NOT NULL,
	`occurred_at` text NOT NULL,
	`contact` text NOT NULL,
	`changes` text NOT NULL,
	`source` text NOT NULL,
	`recorded_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `change_events_version_uq` ON `change_events` (`contact_id`,`version`);--> statement-breakpoint
CREATE INDEX `change_events_recorded_idx` ON `change_events` (`recorded_at`);--> statement-breakpoint
CREATE TABLE `contact_mirror` (
	`contact_id` text PRIMARY KEY NOT NULL,
	`version` integer NOT NULL,
	`data` text NOT NULL,
	`deleted_at` text,
	`synced_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`key` text PRIMARY KEY NOT NULL,
	`request_hash` text NOT NULL,
	`state` text NOT NULL,
	`response_status` integer,
	`response_headers` text,
	`response_body` text,
	`locked_until` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `idempotency_expiry_idx` ON `idempotency_keys` (`expires_at`);--> statement-breakpoint
CREATE TABLE `job_chunks` (
	`job_id` text NOT NULL,
	`chunk` integer NOT NULL,
	`first_row` integer NOT NULL,
	`rows` text NOT NULL,
	PRIMARY KEY(`job_id`, `chunk`)
);
--> statement-breakpoint
CREATE TABLE `job_errors` (
	`job_id` text NOT NULL,
	`row` integer NOT NULL,
	`email` text,
	`code` text NOT NULL,
	`errors` text NOT NULL,
	PRIMARY KEY(`job_id`, `row`)
);
--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`total` integer,
	`processed` integer DEFAULT 0 NOT NULL,
	`succeeded` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`chunks` integer DEFAULT 0 NOT NULL,
	`checkpoint` text,
	`updated_since` text,
	`cancel_requested` integer DEFAULT false NOT NULL,
	`failure` text,
	`created_at` text NOT NULL,
	`started_at` text,
	`finished_at` text,
	`lease_until` integer NOT NULL,
	`instance_id` text
);
--> statement-breakpoint
CREATE INDEX `jobs_status_idx` ON `jobs` (`status`);--> statement-breakpoint
CREATE INDEX `jobs_finished_idx` ON `jobs` (`finished_at`);--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `processed_webhooks` (
	`webhook_id` text PRIMARY KEY NOT NULL,
	`processed_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `processed_webhooks_at_idx` ON `processed_webhooks` (`processed_at`);