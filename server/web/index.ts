// server/web: the pages, served from the binary (no CDN, no build step at run time).
//   /pair  redeem a pairing link (SPEC §7)    /  who you are (the dashboard grows here)
//   /term/:hostId/:tid  a terminal in xterm.js
// Every page gets a strict CSP (no inline script) and the other security headers; assets are
// cached and revalidated by ETag, and sent gzipped to clients that accept it.
import { Elysia } from "elysia";
import pairHtml from "./pair.html" with { type: "text" };
import indexHtml from "./index.html" with { type: "text" };
import pairJs from "./pair.client.js" with { type: "text" };
import homeJs from "./home.client.js" with { type: "text" };
import styleCss from "./style.css" with { type: "text" };
import termHtml from "./term.html" with { type: "text" };
import termJs from "./term.client.js" with { type: "text" };
import termCss from "./term.css" with { type: "text" };
import xtermJs from "../../node_modules/@xterm/xterm/lib/xterm.mjs" with { type: "text" };
import xtermCss from "../../node_modules/@xterm/xterm/css/xterm.css" with { type: "text" };
import fitJs from "../../node_modules/@xterm/addon-fit/lib/addon-fit.mjs" with { type: "text" };
import protocolJs from "./protocol.gen.js" with { type: "text" };

/** Every page's headers (server/auth/oidc-routes.ts renders its pages with them too). */
export const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

// xterm.js styles its own elements by injecting <style>: the terminal page alone allows inline
// styles (never inline script).
const TERMINAL_HEADERS = { ...SECURITY_HEADERS, "content-security-policy": SECURITY_HEADERS["content-security-policy"].replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") };

// bun-types types every .html import as an HTML bundle; imported `with { type: "text" }` it is text.
const page =
  (html: unknown, headers: Record<string, string> = SECURITY_HEADERS) =>
  () =>
    new Response(html as string, { headers: { ...headers, "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" } });

/**
 * An asset with its ETag, and gzipped once at start for clients that take it (every browser):
 * the dashboard's first load is a third of its size on the wire, still without a build step.
 */
function asset(body: string, type: string) {
  const etag = `"${Bun.hash(body).toString(36)}"`;
  const gzipped = Bun.gzipSync(new TextEncoder().encode(body), { level: 9 });
  const headers = { ...SECURITY_HEADERS, "content-type": type, etag, vary: "accept-encoding", "cache-control": "public, max-age=300, must-revalidate" };
  return ({ request }: { request: Request }) => {
    if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag, vary: "accept-encoding" } });
    return /\bgzip\b/.test(request.headers.get("accept-encoding") ?? "")
      ? new Response(gzipped, { headers: { ...headers, "content-encoding": "gzip" } })
      : new Response(body, { headers });
  };
}

export const web = () =>
  new Elysia({ name: "web" })
    .get("/", page(indexHtml))
    .get("/pair", page(pairHtml))
    .get("/assets/pair.js", asset(pairJs, "text/javascript; charset=utf-8"))
    .get("/assets/home.js", asset(homeJs, "text/javascript; charset=utf-8"))
    .get("/assets/style.css", asset(styleCss, "text/css; charset=utf-8"))
    .get("/term/:hostId/:tid", page(termHtml, TERMINAL_HEADERS))
    .get("/assets/term.js", asset(termJs, "text/javascript; charset=utf-8"))
    .get("/assets/term.css", asset(termCss, "text/css; charset=utf-8"))
    .get("/assets/protocol.js", asset(protocolJs, "text/javascript; charset=utf-8"))
    .get("/assets/xterm.mjs", asset(xtermJs, "text/javascript; charset=utf-8"))
    .get("/assets/xterm.css", asset(xtermCss, "text/css; charset=utf-8"))
    .get("/assets/addon-fit.mjs", asset(fitJs, "text/javascript; charset=utf-8"));
