// Where /metrics is served. Off the public listener unless asked: `--metrics-addr host:port` is a
// listener of its own with nothing else on it (bind it to loopback or a private network), and
// `--metrics-public` also serves it on the main port to an owner of the installation's first
// organization — a Warren credential like any other, through the one resolver, so that a
// Prometheus scrape config takes an API key (`authorization: credentials: sk_live_…`) and there
// is no static shared secret to leak.
import { Elysia } from "elysia";
import { authenticated, type Auth } from "./auth";
import { HttpError } from "./http/errors";
import { scrape } from "./metrics";

const answer = async () => {
  const { body, contentType } = await scrape();
  return new Response(body, { headers: { "content-type": contentType, "cache-control": "no-store" } });
};

/** The metrics listener: GET /metrics, nothing else. */
export function metricsListener(hostname: string, port: number) {
  return Bun.serve({
    hostname,
    port,
    reusePort: false,
    development: false,
    fetch: (request) => (new URL(request.url).pathname === "/metrics" && request.method === "GET" ? answer() : new Response("not found\n", { status: 404 })),
  });
}

/** GET /metrics on the main port, for owners of the first organization. */
export const metricsRoute = (auth: Auth) =>
  new Elysia().use(authenticated(auth)).get("/metrics", async ({ principal }) => {
    const first = await auth.store.firstOrgId();
    if (!first || principal.roles[first] !== "owner") throw new HttpError(403, "forbidden", "metrics are for owners of the installation's first organization");
    return answer();
  });
