CREATE TABLE `oidc_device_grants` (
	`handle_hash` text PRIMARY KEY NOT NULL,
	`device_code` text NOT NULL,
	`interval` integer NOT NULL,
	`next_poll_at` integer NOT NULL,
	`device_name` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `oidc_device_grants_expires_idx` ON `oidc_device_grants` (`expires_at`);