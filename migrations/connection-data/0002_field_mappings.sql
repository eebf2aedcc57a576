CREATE TABLE `field_mappings` (
	`api_name` text PRIMARY KEY NOT NULL,
	`remote` text NOT NULL,
	`type` text NOT NULL,
	`options` text,
	`label` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `field_mappings_remote_uq` ON `field_mappings` (`remote`);