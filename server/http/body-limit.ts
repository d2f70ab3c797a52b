// Request bodies are bounded where they are read: a declared Content-Length over the limit is
// refused before any byte is read, a chunked body is counted as it arrives, and JSON is checked
// for depth before it is parsed (http/json.ts). JSON routes take JSON only: another media type is
// 415 before any parser of Elysia's (forms, multipart) touches it. (No onRequest hook: one would
// switch off Bun's native routing for every request — measured in bench/http.ts.) Bodies nobody
// reads are capped by the server's ceiling.
import { Elysia } from "elysia";
import { HttpError } from "./errors";
import { parseJson } from "./json";

export const JSON_BODY_LIMIT = 1024 * 1024;

/** `raw(path)`: routes that read their own bodies as bytes (stream appends), whatever the Content-Type. */
export const bodyLimit = (raw: (path: string) => boolean, limit = JSON_BODY_LIMIT) =>
  new Elysia({ name: "body-limit" })
    .onParse({ as: "global" }, async ({ request, contentType, path }) => {
      if (raw(path)) return;
      if (!contentType?.toLowerCase().startsWith("application/json")) {
        if (!request.body) return null;
        throw new HttpError(415, "unsupported_media_type", "send the request body as application/json");
      }
      if (Number(request.headers.get("content-length") ?? 0) > limit) throw tooLarge(limit);
      const text = await readText(request, limit);
      if (text.trim() === "") return null;
      return parseJson(text);
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
