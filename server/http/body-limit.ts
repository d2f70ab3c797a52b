// Request bodies are bounded where they are read: a declared Content-Length over the limit is
// refused before any byte is read, and a chunked body is counted as it arrives. JSON parse
// errors become 400. (No onRequest hook: one would switch off Bun's native routing for every
// request — measured in bench/http.ts.) Bodies nobody reads are capped by the server's ceiling.
import { Elysia } from "elysia";
import { HttpError } from "./errors";

export const JSON_BODY_LIMIT = 1024 * 1024;

/** `raw(path)`: routes that read their own bodies as bytes (stream appends), whatever the Content-Type. */
export const bodyLimit = (raw: (path: string) => boolean, limit = JSON_BODY_LIMIT) =>
  new Elysia({ name: "body-limit" })
    .onParse({ as: "global" }, async ({ request, contentType, path }) => {
      if (!contentType?.toLowerCase().startsWith("application/json") || raw(path)) return;
      if (Number(request.headers.get("content-length") ?? 0) > limit) throw tooLarge(limit);
      const text = await readText(request, limit);
      if (text.trim() === "") throw new HttpError(400, "invalid_json", "the request body is empty; send a JSON document");
      try {
        return JSON.parse(text);
      } catch (e) {
        throw new HttpError(400, "invalid_json", `the request body is not valid JSON (${(e as Error).message})`);
      }
    });

async function readText(request: Request, limit: number): Promise<string> {
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    size += r.value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(r.value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function tooLarge(limit: number) {
  return new HttpError(413, "payload_too_large", `the request body is larger than ${limit} bytes`);
}
