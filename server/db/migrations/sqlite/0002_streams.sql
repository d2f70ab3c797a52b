CREATE TABLE `stream_chunks` (
	`stream_id` text NOT NULL,
	`start_pos` integer NOT NULL,
	`end_pos` integer NOT NULL,
	`data` blob NOT NULL,
	FOREIGN KEY (`stream_id`) REFERENCES `streams`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `stream_chunks_pos_key` ON `stream_chunks` (`stream_id`,`end_pos`);--> statement-breakpoint
CREATE TABLE `stream_producers` (
	`stream_id` text NOT NULL,
	`producer_id` text NOT NULL,
	`epoch` integer NOT NULL,
	`seq` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`stream_id`) REFERENCES `streams`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `stream_producers_key` ON `stream_producers` (`stream_id`,`producer_id`);--> statement-breakpoint
CREATE TABLE `streams` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`path` text NOT NULL,
	`content_type` text NOT NULL,
	`ttl_seconds` integer,
	`expires_at` integer,
	`accessed_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`tail` integer NOT NULL,
	`closed` integer NOT NULL,
	`closed_by` text,
	`last_seq` text,
	`fork_of` text,
	`fork_offset` integer,
	`fork_sub_offset` integer,
	`forks` integer NOT NULL,
	`deleted` integer NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `streams_org_path_key` ON `streams` (`org_id`,`path`);--> statement-breakpoint
CREATE INDEX `streams_fork_of_idx` ON `streams` (`fork_of`);