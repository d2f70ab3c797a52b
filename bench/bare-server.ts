// The anchor for bench/http.ts: a bare Bun.serve answering what Warren answers, with nothing else.
const ok = JSON.stringify({ status: "ok" });
const notFound = JSON.stringify({ error: { code: "not_found", message: "no such route" } });
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    const path = new URL(req.url).pathname;
    return path === "/healthz"
      ? new Response(ok, { headers: { "content-type": "application/json" } })
      : new Response(notFound, { status: 404, headers: { "content-type": "application/json" } });
  },
});
console.log(`listening on http://127.0.0.1:${server.port}`);
