CREATE TABLE `deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`destination_id` text NOT NULL,
	`seq` integer NOT NULL,
	`event_id` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`first_attempt_at` integer,
	`lease_until` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_destination_seq_uq` ON `deliveries` (`destination_id`,`seq`);--> statement-breakpoint
CREATE INDEX `deliveries_due_idx` ON `deliveries` (`destination_id`,`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `deliveries_finished_idx` ON `deliveries` (`finished_at`);--> statement-breakpoint
CREATE TABLE `delivery_attempts` (
	`id` text PRIMARY KEY NOT NULL,
	`delivery_id` text NOT NULL,
	`destination_id` text NOT NULL,
	`seq` integer NOT NULL,
	`event_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`status` text NOT NULL,
	`response_status` integer,
	`response_excerpt` text,
	`error` text,
	`duration_ms` integer NOT NULL,
	`attempted_at` integer NOT NULL,
	`next_attempt_at` integer
);
--> statement-breakpoint
CREATE INDEX `delivery_attempts_destination_idx` ON `delivery_attempts` (`destination_id`,`id`);--> statement-breakpoint
CREATE INDEX `delivery_attempts_at_idx` ON `delivery_attempts` (`attempted_at`);--> statement-breakpoint
CREATE TABLE `destinations` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`description` text,
	`status` text NOT NULL,
	`disabled_reason` text,
	`secret_enc` text NOT NULL,
	`previous_secret_enc` text,
	`previous_until` integer,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
