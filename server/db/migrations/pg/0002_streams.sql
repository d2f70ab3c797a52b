CREATE TABLE "stream_chunks" (
	"stream_id" text NOT NULL,
	"start_pos" bigint NOT NULL,
	"end_pos" bigint NOT NULL,
	"data" "bytea" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stream_producers" (
	"stream_id" text NOT NULL,
	"producer_id" text NOT NULL,
	"epoch" bigint NOT NULL,
	"seq" bigint NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "streams" (
	"id" text PRIMARY KEY NOT NULL,
	"org_id" text NOT NULL,
	"path" text NOT NULL,
	"content_type" text NOT NULL,
	"ttl_seconds" bigint,
	"expires_at" timestamp (3) with time zone,
	"accessed_at" timestamp (3) with time zone NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"tail" bigint NOT NULL,
	"closed" boolean NOT NULL,
	"closed_by" text,
	"last_seq" text,
	"fork_of" text,
	"fork_offset" bigint,
	"fork_sub_offset" bigint,
	"forks" bigint NOT NULL,
	"deleted" boolean NOT NULL
);
--> statement-breakpoint
ALTER TABLE "stream_chunks" ADD CONSTRAINT "stream_chunks_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stream_producers" ADD CONSTRAINT "stream_producers_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "streams" ADD CONSTRAINT "streams_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "stream_chunks_pos_key" ON "stream_chunks" USING btree ("stream_id","end_pos");--> statement-breakpoint
CREATE UNIQUE INDEX "stream_producers_key" ON "stream_producers" USING btree ("stream_id","producer_id");--> statement-breakpoint
CREATE UNIQUE INDEX "streams_org_path_key" ON "streams" USING btree ("org_id","path");--> statement-breakpoint
CREATE INDEX "streams_fork_of_idx" ON "streams" USING btree ("fork_of");