CREATE TABLE `active_jobs` (
	`job_id` text PRIMARY KEY NOT NULL,
	`connection_id` text NOT NULL,
	`kind` text NOT NULL,
	`lease_until` integer NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `active_jobs_lease_idx` ON `active_jobs` (`lease_until`);--> statement-breakpoint
DROP TABLE `change_events`;--> statement-breakpoint
DROP TABLE `contact_mirror`;--> statement-breakpoint
DROP TABLE `idempotency_keys`;--> statement-breakpoint
DROP TABLE `job_chunks`;--> statement-breakpoint
DROP TABLE `job_errors`;--> statement-breakpoint
DROP TABLE `jobs`;--> statement-breakpoint
DROP TABLE `processed_webhooks`;