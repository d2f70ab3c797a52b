// server/web: the pages, served from the binary (no CDN, no build step at run time).
//   /pair  redeem a pairing link (SPEC §7)    /  who you are (the dashboard grows here)
// Every page gets a strict CSP (no inline script) and the other security headers; assets are
// cached and revalidated by ETag.
import { Elysia } from "elysia";
import pairHtml from "./pair.html" with { type: "text" };
import indexHtml from "./index.html" with { type: "text" };
import pairJs from "./pair.client.js" with { type: "text" };
import homeJs from "./home.client.js" with { type: "text" };
import styleCss from "./style.css" with { type: "text" };

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

// bun-types types every .html import as an HTML bundle; imported `with { type: "text" }` it is text.
const page = (html: unknown) => () =>
  new Response(html as string, { headers: { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" } });

function asset(body: string, type: string) {
  const etag = `"${Bun.hash(body).toString(36)}"`;
  return ({ request }: { request: Request }) =>
    request.headers.get("if-none-match") === etag
      ? new Response(null, { status: 304, headers: { etag } })
      : new Response(body, { headers: { ...SECURITY_HEADERS, "content-type": type, etag, "cache-control": "public, max-age=300, must-revalidate" } });
}

export const web = () =>
  new Elysia({ name: "web" })
    .get("/", page(indexHtml))
    .get("/pair", page(pairHtml))
    .get("/assets/pair.js", asset(pairJs, "text/javascript; charset=utf-8"))
    .get("/assets/home.js", asset(homeJs, "text/javascript; charset=utf-8"))
    .get("/assets/style.css", asset(styleCss, "text/css; charset=utf-8"));
