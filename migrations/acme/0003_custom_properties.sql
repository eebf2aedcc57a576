CREATE TABLE `custom_properties` (
	`account_id` text NOT NULL,
	`name` text NOT NULL,
	`label` text NOT NULL,
	`type` text NOT NULL,
	`options` text,
	`created_at` text NOT NULL,
	`archived_at` text,
	PRIMARY KEY(`account_id`, `name`)
);
--> statement-breakpoint
ALTER TABLE `contacts` ADD `acme_custom` text DEFAULT '{}' NOT NULL;