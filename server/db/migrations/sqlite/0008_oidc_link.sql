ALTER TABLE `oidc_states` ADD `link_session_id` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `oidc_issuer` text;