CREATE TABLE `stream_subscription_links` (
	`subscription_id` text NOT NULL,
	`path` text NOT NULL,
	`explicit` integer NOT NULL,
	`glob` integer NOT NULL,
	`acked_offset` text NOT NULL,
	FOREIGN KEY (`subscription_id`) REFERENCES `stream_subscriptions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `stream_subscription_links_key` ON `stream_subscription_links` (`subscription_id`,`path`);--> statement-breakpoint
CREATE TABLE `stream_subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`pattern` text,
	`webhook_url` text,
	`wake_stream` text,
	`lease_ttl_ms` integer NOT NULL,
	`description` text,
	`config` text NOT NULL,
	`base_url` text NOT NULL,
	`created_at` integer NOT NULL,
	`generation` integer NOT NULL,
	`wake_id` text,
	`snapshot` text,
	`holder` text,
	`lease_until` integer,
	`attempts` integer NOT NULL,
	`deliver_at` integer,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `stream_subscriptions_org_name_key` ON `stream_subscriptions` (`org_id`,`name`);