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
	`connection_id` text NOT NULL,
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
	`lease_until` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `jobs_connection_idx` ON `jobs` (`connection_id`,`id`);--> statement-breakpoint
CREATE INDEX `jobs_active_idx` ON `jobs` (`status`,`lease_until`);