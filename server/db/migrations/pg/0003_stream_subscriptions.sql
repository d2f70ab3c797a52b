CREATE TABLE "stream_subscription_links" (
	"subscription_id" text NOT NULL,
	"path" text NOT NULL,
	"explicit" boolean NOT NULL,
	"glob" boolean NOT NULL,
	"acked_offset" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stream_subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"org_id" text NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"pattern" text,
	"webhook_url" text,
	"wake_stream" text,
	"lease_ttl_ms" bigint NOT NULL,
	"description" text,
	"config" text NOT NULL,
	"base_url" text NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"generation" bigint NOT NULL,
	"wake_id" text,
	"snapshot" text,
	"holder" text,
	"lease_until" timestamp (3) with time zone,
	"attempts" bigint NOT NULL,
	"deliver_at" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "stream_subscription_links" ADD CONSTRAINT "stream_subscription_links_subscription_id_stream_subscriptions_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."stream_subscriptions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stream_subscriptions" ADD CONSTRAINT "stream_subscriptions_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "stream_subscription_links_key" ON "stream_subscription_links" USING btree ("subscription_id","path");--> statement-breakpoint
CREATE UNIQUE INDEX "stream_subscriptions_org_name_key" ON "stream_subscriptions" USING btree ("org_id","name");