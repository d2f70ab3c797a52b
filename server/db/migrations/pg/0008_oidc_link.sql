ALTER TABLE "oidc_states" ADD COLUMN "link_session_id" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "oidc_issuer" text;