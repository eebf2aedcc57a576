DROP INDEX `webhook_events_pending_idx`;--> statement-breakpoint
ALTER TABLE `webhook_events` ADD `lease_until` text DEFAULT '1970-01-01T00:00:00.000Z' NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_events` ADD `finished_at` text;--> statement-breakpoint
CREATE INDEX `webhook_events_due_idx` ON `webhook_events` (`lease_until`) WHERE finished_at IS NULL;--> statement-breakpoint
-- Events fanned out before the lease existed whose every delivery already ended are finished;
-- the rest are due at once (the column's default), and the next sweep settles them.
UPDATE `webhook_events` SET `finished_at` = (
	SELECT MAX(d.`updated_at`) FROM `webhook_deliveries` d WHERE d.`event_id` = `webhook_events`.`id`
) WHERE `enqueued_at` IS NOT NULL
	AND EXISTS (SELECT 1 FROM `webhook_deliveries` d WHERE d.`event_id` = `webhook_events`.`id`)
	AND NOT EXISTS (
		SELECT 1 FROM `webhook_deliveries` d
		WHERE d.`event_id` = `webhook_events`.`id` AND d.`status` NOT IN ('succeeded', 'failed', 'dead', 'skipped')
	);
