ALTER TABLE `hosts` ADD `instance` text;--> statement-breakpoint
ALTER TABLE `hosts` ADD `connected_at` integer;