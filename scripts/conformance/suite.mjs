// The published Durable Streams conformance suite (@durable-streams/server-conformance-tests,
// pinned in package.json), pointed at the server scripts/conformance.ts started.
import { runConformanceTests } from "@durable-streams/server-conformance-tests";

runConformanceTests({
  baseUrl: process.env.WARREN_CONFORMANCE_URL,
  longPollTimeoutMs: Number(process.env.WARREN_CONFORMANCE_LONG_POLL_MS),
  subscriptions: true,
});
