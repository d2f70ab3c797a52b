ALTER TABLE "hosts" ADD COLUMN "instance" text;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "connected_at" timestamp (3) with time zone;