CREATE TABLE `change_events` (
	`connection_id` text NOT NULL,
	`seq` integer NOT NULL,
	`event_id` text NOT NULL,
	`type` text NOT NULL,
	`contact_id` text NOT NULL,
	`version` integer NOT NULL,
	`occurred_at` text NOT NULL,
	`contact` text NOT NULL,
	`changes` text NOT NULL,
	`source` text NOT NULL,
	`recorded_at` text NOT NULL,
	PRIMARY KEY(`connection_id`, `seq`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `change_events_version_uq` ON `change_events` (`connection_id`,`contact_id`,`version`);--> statement-breakpoint
CREATE TABLE `contact_mirror` (
	`connection_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`version` integer NOT NULL,
	`data` text NOT NULL,
	`deleted_at` text,
	`synced_at` text NOT NULL,
	PRIMARY KEY(`connection_id`, `contact_id`)
);
--> statement-breakpoint
CREATE TABLE `dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`connection_id` text,
	`webhook_id` text,
	`body` text NOT NULL,
	`reason` text NOT NULL,
	`received_at` text NOT NULL,
	`replayed_at` text
);
--> statement-breakpoint
CREATE INDEX `dead_letters_received_idx` ON `dead_letters` (`received_at`);--> statement-breakpoint
CREATE TABLE `processed_webhooks` (
	`connection_id` text NOT NULL,
	`webhook_id` text NOT NULL,
	`processed_at` text NOT NULL,
	PRIMARY KEY(`connection_id`, `webhook_id`)
);
--> statement-breakpoint
ALTER TABLE `connections` ADD `webhook_secret_enc` text;--> statement-breakpoint
ALTER TABLE `connections` ADD `reconciled_through` text;