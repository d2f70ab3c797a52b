// warren stream create | append | read | tail | ls | rm — Durable Streams (/v1/stream/<path>) from a shell.
// stdout carries only data (or, for create/append, the offset a script wants); everything meant
// for a person goes to stderr. Requests go to the server and credential cli/client.ts resolves;
// the protocol needs raw bodies and its own headers, so they are sent with that client's headers.
import type { Command } from "../command";
import { client, clientFlags, ClientError, describeFailure, type Client } from "../client";
import { UsageError } from "../flags";
import type { ListedStream as Listed } from "../../server/streams/list";

const OCTET = "application/octet-stream";
const JSON_TYPE = "application/json";

const isJson = (contentType: string | null) => (contentType ?? "").split(";")[0]!.trim().toLowerCase() === JSON_TYPE;

const contentTypeFlags = {
  "content-type": { type: "string" as const, value: "type", help: `The stream's content type (default ${OCTET})` },
  json: { type: "boolean" as const, help: `Shorthand for --content-type ${JSON_TYPE}` },
};

function onePath(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError("give exactly one stream path", command);
  return checkPath(positionals[0]!, command);
}

function checkPath(path: string, command: string): string {
  if (!path || path.startsWith("/")) throw new UsageError(`"${path}" is not a stream path; name it like logs/build-42 (no leading /)`, command);
  return path;
}

function contentTypeOf(flags: Record<string, unknown>, command: string): string {
  const given = flags["content-type"] as string | undefined;
  if (given && flags.json && !isJson(given)) throw new UsageError("give --json or --content-type, not both", command);
  const type = flags.json ? JSON_TYPE : (given ?? OCTET);
  if (!/^[\w.+-]+\/[\w.+-]+/.test(type)) throw new UsageError(`--content-type "${type}" is not a media type (like text/plain)`, command);
  return type;
}

/** The stream's URL path: each segment percent-encoded the one way every client here does it. */
const url = (path: string, query?: URLSearchParams) => `/v1/stream/${path.split("/").map(encodeURIComponent).join("/")}${query ? `?${query}` : ""}`;

/** The content type the stream was created with (HEAD), or null when it cannot be asked. */
async function streamType(c: Client, path: string): Promise<string | null> {
  const r = await send(c, "HEAD", path).catch(() => null);
  return r?.ok ? r.headers.get("content-type") : null;
}

/** One protocol request with the client's server and credential. */
function send(c: Client, method: string, path: string, opts: { query?: URLSearchParams; headers?: Record<string, string>; body?: Uint8Array; signal?: AbortSignal } = {}): Promise<Response> {
  return c.send(method, url(path, opts.query), { headers: opts.headers, body: opts.body as BodyInit | undefined, signal: opts.signal });
}

/** A non-2xx answer, worded: a missing stream by name, the rest as the server put it. */
async function failure(c: Client, r: Response, path: string): Promise<ClientError> {
  if (r.status === 404) {
    await r.body?.cancel();
    return new ClientError(`no such stream ${path}`);
  }
  let message = await describeFailure(r, c.server, c.credential);
  if (r.status === 409 && /content type|holds/.test(message)) message += "; pass the stream's own --content-type";
  return new ClientError(message);
}

/** Writes to stdout and waits until it is taken, so large outputs keep their order and memory stays flat. */
function out(data: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (e) => (e ? reject(e) : resolve())));
}

/** --offset, with "start" for -1 (which the flag parser takes for a flag unless written --offset=-1). */
const startOffset = (flags: Record<string, unknown>, fallback: string) => {
  const given = flags.offset as string | undefined;
  return given === "start" ? "-1" : (given ?? fallback);
};

/** "3600", "3600s", "90m", "1h", "7d" → seconds. */
export function parseTtl(value: string, command: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/i.exec(value.trim());
  const n = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? "s").toLowerCase() as "s"] : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--ttl "${value}": give a duration like 3600, 90m, 1h or 7d`, command);
  return n;
}

export const streamCreate: Command = {
  spec: {
    name: "stream create",
    summary: "Create a stream (no error if it exists with the same configuration).",
    usage: "warren stream create <path> [--content-type T | --json] [--ttl D | --expires-at T] [--closed]",
    flags: {
      ...clientFlags,
      ...contentTypeFlags,
      ttl: { type: "string", value: "duration", help: "Delete it after this long without use: 3600, 90m, 1h, 7d" },
      "expires-at": { type: "string", value: "time", help: "Delete it at this RFC 3339 time, like 2030-01-01T00:00:00Z" },
      closed: { type: "boolean", help: "Create it already closed (it takes no appends)" },
    },
    details: [
      "Prints the stream's next offset on stdout; says on stderr whether it was created or already existed.",
      "A stream with this path and a different configuration is an error (exit 1).",
      "",
      "Examples:",
      "  warren stream create builds/42/log --content-type text/plain --ttl 7d",
      "  warren stream create events --json",
    ].join("\n"),
  },
  async run(flags, positionals) {
    const cmd = "stream create";
    const path = onePath(positionals, cmd);
    const headers: Record<string, string> = { "content-type": contentTypeOf(flags, cmd) };
    if (flags.ttl !== undefined && flags["expires-at"] !== undefined) throw new UsageError("give --ttl or --expires-at, not both", cmd);
    if (flags.ttl !== undefined) headers["stream-ttl"] = String(parseTtl(flags.ttl as string, cmd));
    if (flags["expires-at"] !== undefined) {
      const at = flags["expires-at"] as string;
      if (!/^\d{4}-\d{2}-\d{2}T/.test(at) || Number.isNaN(Date.parse(at))) throw new UsageError(`--expires-at "${at}": give an RFC 3339 time like 2030-01-01T00:00:00Z`, cmd);
      headers["stream-expires-at"] = at;
    }
    if (flags.closed) headers["stream-closed"] = "true";
    const c = client(flags);
    const r = await send(c, "PUT", path, { headers });
    if (!r.ok) throw await failure(c, r, path);
    await r.body?.cancel();
    const next = r.headers.get("stream-next-offset") ?? "";
    console.log(next);
    const closed = r.headers.get("stream-closed") === "true" ? ", closed" : "";
    console.error(r.status === 201 ? `created stream ${path} (${headers["content-type"]}${closed}); next offset ${next}` : `stream ${path} already exists with the same configuration${closed}; next offset ${next}`);
    return 0;
  },
};

export const streamAppend: Command = {
  spec: {
    name: "stream append",
    summary: "Append data (the arguments, else stdin) to a stream; print the new offset.",
    usage: "warren stream append <path> [DATA…] [--content-type T | --json] [--close]",
    flags: {
      ...clientFlags,
      ...contentTypeFlags,
      close: { type: "boolean", help: "Close the stream with (or, with no data, without) this append" },
    },
    details: [
      "DATA arguments are joined with single spaces, with no newline added; without them the whole of",
      "stdin is sent, byte for byte (one append is at most 16 MiB). --close without DATA and with stdin",
      "a terminal closes the stream without appending. The content type is the stream's own unless",
      "given (a different one is refused by the server).",
      "",
      "Examples:",
      "  warren stream append builds/42/log --content-type text/plain 'step 1 done'",
      "  tar c src | warren stream append backups/src",
      "  warren stream append events --json '{\"type\":\"deployed\"}'",
      "  warren stream append builds/42/log --close",
    ].join("\n"),
  },
  async run(flags, positionals) {
    const cmd = "stream append";
    if (positionals.length === 0) throw new UsageError("give the stream path, then the data (or pipe it on stdin)", cmd);
    const path = checkPath(positionals[0]!, cmd);
    const told = flags["content-type"] !== undefined || !!flags.json;
    const type = contentTypeOf(flags, cmd);
    const words = positionals.slice(1);
    let body: Uint8Array;
    if (words.length) body = new TextEncoder().encode(words.join(" "));
    else if (flags.close && process.stdin.isTTY) body = new Uint8Array(0);
    else body = new Uint8Array(await Bun.stdin.arrayBuffer());
    if (!body.byteLength && !flags.close) throw new UsageError("nothing to append: give DATA or pipe it on stdin (or --close to close the stream)", cmd);
    const headers: Record<string, string> = {};
    const c = client(flags);
    if (body.byteLength) headers["content-type"] = told ? type : ((await streamType(c, path)) ?? type);
    if (flags.close) headers["stream-closed"] = "true";
    const r = await send(c, "POST", path, { headers, body });
    if (!r.ok) throw await failure(c, r, path);
    await r.body?.cancel();
    console.log(r.headers.get("stream-next-offset") ?? "");
    if (flags.close) console.error(`closed stream ${path}`);
    return 0;
  },
};

export const streamRead: Command = {
  spec: {
    name: "stream read",
    summary: "Write a stream's data from an offset to its current end on stdout.",
    usage: "warren stream read <path> [--offset O] [--json]",
    flags: {
      ...clientFlags,
      offset: { type: "string", value: "offset", help: "Where to start: start (or --offset=-1), now, or an offset printed before (default start)" },
      json: { type: "boolean", help: "For a JSON stream, print one value per line (JSON Lines) instead of one array" },
    },
    details: [
      "stdout gets the bytes exactly as stored (however many requests that takes); a JSON stream's",
      "values come as one JSON array, or one per line with --json. stderr gets the offset to continue",
      "from (`next offset O`, with `, closed` when the stream is closed and read to its end).",
      "",
      "Examples:",
      "  warren stream read backups/src > src.tar",
      "  warren stream read events --json | jq .type",
      "  warren stream read builds/42/log --offset 0000000000000000_0000000000001024",
    ].join("\n"),
  },
  async run(flags, positionals) {
    const cmd = "stream read";
    const path = onePath(positionals, cmd);
    let offset = startOffset(flags, "-1");
    const c = client(flags);
    let first = true;
    let wroteValue = false;
    let closed = false;
    for (;;) {
      const r = await send(c, "GET", path, { query: new URLSearchParams({ offset }) });
      if (!r.ok) throw await failure(c, r, path);
      const json = isJson(r.headers.get("content-type"));
      if (!json) {
        if (flags.json) throw new ClientError(`stream ${path} holds ${r.headers.get("content-type")}, not JSON; read it without --json`);
        // The server streams a long catch-up in one response: pass it on as it comes, in flat memory.
        for await (const part of r.body as unknown as AsyncIterable<Uint8Array>) await out(part);
      } else {
        const bytes = new Uint8Array(await r.arrayBuffer());
        if (flags.json) {
          for (const v of JSON.parse(new TextDecoder().decode(bytes)) as unknown[]) await out(JSON.stringify(v) + "\n");
        } else {
          // Each response is an array; their values become one.
          const inner = bytes.subarray(1, Math.max(1, bytes.length - 1));
          await out(first ? "[" : "");
          if (inner.length) {
            if (wroteValue) await out(",");
            await out(inner);
            wroteValue = true;
          }
        }
      }
      first = false;
      const next = r.headers.get("stream-next-offset");
      const upToDate = r.headers.get("stream-up-to-date") === "true";
      closed = r.headers.get("stream-closed") === "true";
      if (!next) throw new ClientError("the server sent no Stream-Next-Offset");
      if (upToDate) {
        if (json && !flags.json) await out("]\n");
        offset = next;
        break;
      }
      if (next === offset) throw new ClientError(`the read made no progress at offset ${offset}`);
      offset = next;
    }
    console.error(`next offset ${offset}${closed ? ", closed" : ""}`);
    return 0;
  },
};

export const streamTail: Command = {
  spec: {
    name: "stream tail",
    summary: "Follow a stream live, writing new data to stdout until it is closed.",
    usage: "warren stream tail <path> [--offset O] [--json]",
    flags: {
      ...clientFlags,
      offset: { type: "string", value: "offset", help: "Where to start: now (only what comes next), start (or --offset=-1), or an offset printed before (default now)" },
      json: { type: "boolean", help: "For a JSON stream, print one value per line (JSON Lines) instead of one array per batch" },
    },
    details: [
      "Uses Server-Sent Events and reconnects from where it got to whenever the server ends the",
      "response (about every minute) or the connection drops (saying so on stderr); nothing is",
      "written twice. Exits 0 when the stream is closed, and quietly on Ctrl-C. A JSON stream's new",
      "values come as one array per line, or one value per line with --json. Text streams travel",
      "as SSE text, which carries line breaks as \\n; use a binary content type for exact CR bytes.",
      "",
      "Examples:",
      "  warren stream tail builds/42/log",
      "  warren stream tail events --offset start --json",
    ].join("\n"),
  },
  async run(flags, positionals) {
    const cmd = "stream tail";
    const path = onePath(positionals, cmd);
    const c = client(flags);
    const stop = new AbortController();
    const interrupt = () => stop.abort();
    process.on("SIGINT", interrupt);
    try {
      return await follow(c, path, startOffset(flags, "now"), !!flags.json, stop.signal);
    } catch (e) {
      if (stop.signal.aborted) return 0;
      throw e;
    } finally {
      process.off("SIGINT", interrupt);
    }
  },
};


/** A path as the server lists it (as in the URL) → as it is typed here, when that is the same stream. */
function typedPath(listed: string): string {
  try {
    const decoded = listed.split("/").map(decodeURIComponent).join("/");
    return url(decoded) === `/v1/stream/${listed}` ? decoded : listed;
  } catch {
    return listed;
  }
}

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(1)} GiB`);

export const streamLs: Command = {
  spec: {
    name: "stream ls",
    summary: "List your organization's streams (one prefix of paths, or all).",
    usage: "warren stream ls [--prefix P] [--json]",
    flags: {
      ...clientFlags,
      prefix: { type: "string", value: "prefix", help: "Only streams whose path starts with this, like builds/ (exactly: case kept, no wildcards)" },
      json: { type: "boolean", help: "Print one JSON array of {path, contentType, bytes, nextOffset, closed, createdAt, ttlSeconds, expiresAt}" },
    },
    details: [
      "One line per stream on stdout: path, content type, size, then closed / expiry when they apply.",
      "The streams are those of the organization your credential acts in (an API key's own).",
      "",
      "Examples:",
      "  warren stream ls --prefix builds/",
      "  warren stream ls --json | jq -r '.[] | select(.closed) | .path'",
    ].join("\n"),
  },
  async run(flags, positionals) {
    const cmd = "stream ls";
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; to filter by path, give --prefix ${positionals[0]}`, cmd);
    const prefix = (flags.prefix as string | undefined) ?? "";
    if (prefix.startsWith("/")) throw new UsageError(`--prefix "${prefix}": stream paths have no leading /`, cmd);
    const c = client(flags);
    const all: Listed[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ limit: "1000" });
      // The server matches the path as it is in the URL: encode the prefix as url() does a path.
      if (prefix) q.set("prefix", prefix.split("/").map(encodeURIComponent).join("/"));
      if (cursor) q.set("cursor", cursor);
      const page: { streams: Listed[]; next: string | null } = await c.json("GET", `/api/streams?${q}`);
      all.push(...page.streams.map((s) => ({ ...s, path: typedPath(s.path) })));
      cursor = page.next;
    } while (cursor);
    if (flags.json) {
      await out(JSON.stringify(all) + "\n");
      return 0;
    }
    if (!all.length) {
      console.error(prefix ? `no streams under ${prefix}` : "no streams yet; make one with: warren stream create <path>");
      return 0;
    }
    const width = Math.max(...all.map((s) => s.path.length));
    const typeWidth = Math.max(...all.map((s) => s.contentType.length));
    for (const s of all) {
      const notes = [s.closed ? "closed" : "", s.expiresAt ? `expires ${s.expiresAt}${s.ttlSeconds !== null ? " unless used" : ""}` : ""].filter(Boolean).join(", ");
      await out(`${s.path.padEnd(width)}  ${s.contentType.padEnd(typeWidth)}  ${size(s.bytes).padStart(10)}${notes ? `  ${notes}` : ""}\n`);
    }
    return 0;
  },
};

export const streamRm: Command = {
  spec: {
    name: "stream rm",
    summary: "Delete streams, their data with them.",
    usage: "warren stream rm <path>…",
    flags: clientFlags,
    details: "Readers of a deleted stream get 404; its forks, if any, keep reading the data they share.\nExits 1 if any path was not a stream (the others are still deleted).",
  },
  async run(flags, positionals) {
    const cmd = "stream rm";
    if (!positionals.length) throw new UsageError("give the path of each stream to delete (see warren stream ls)", cmd);
    const paths = positionals.map((p) => checkPath(p, cmd));
    const c = client(flags);
    let failed = 0;
    for (const path of paths) {
      const r = await send(c, "DELETE", path);
      if (!r.ok) {
        const e = await failure(c, r, path);
        // A refused credential is the same answer for every path: say it once.
        if (r.status === 401 || r.status === 403) throw e;
        console.error(`warren ${cmd}: ${e.message}`);
        failed++;
        continue;
      }
      await r.body?.cancel();
      console.error(`deleted stream ${path}`);
    }
    return failed ? 1 : 0;
  },
};

const BACKOFF_MS = [250, 500, 1000, 2000, 5000];

async function follow(c: Client, path: string, start: string, lines: boolean, signal: AbortSignal): Promise<number> {
  // A plain read at the tail first: the stream's content type (an SSE response does not carry it),
  // a missing stream or a refused credential as an error body, and "now" pinned to an offset so a
  // reconnect before the first control event cannot skip anything.
  const probe = await send(c, "GET", path, { query: new URLSearchParams({ offset: "now" }), signal });
  if (!probe.ok) throw await failure(c, probe, path);
  await probe.body?.cancel();
  const json = isJson(probe.headers.get("content-type"));
  if (lines && !json) throw new ClientError(`stream ${path} holds ${probe.headers.get("content-type")}, not JSON; tail it without --json`);
  let offset = start === "now" ? (probe.headers.get("stream-next-offset") ?? start) : start;
  let cursor: string | null = null;
  let connected = false;
  let failures = 0;
  while (!signal.aborted) {
    let r: Response;
    try {
      const query = new URLSearchParams({ offset, live: "sse" });
      if (cursor) query.set("cursor", cursor);
      r = await send(c, "GET", path, { query, signal });
    } catch (e) {
      if (signal.aborted) return 0;
      if (!connected) throw e;
      await pause(`${(e as Error).message}`, failures++, signal);
      continue;
    }
    if (!r.ok) {
      if (r.status >= 500 && connected) {
        await r.body?.cancel();
        await pause(`HTTP ${r.status}`, failures++, signal);
        continue;
      }
      throw await failure(c, r, path);
    }
    connected = true;
    failures = 0;
    const base64 = r.headers.get("stream-sse-data-encoding") === "base64";
    let pending: string | null = null;
    try {
      for await (const event of events(r.body!)) {
        if (event.type === "data") pending = event.data;
        else if (event.type === "control") {
          const ctl = JSON.parse(event.data) as { streamNextOffset?: string; streamCursor?: string; streamClosed?: boolean };
          // Data counts once its control event says where it leaves the reader: a connection lost
          // in between is read again from the previous offset, so nothing is written twice.
          if (pending !== null) await emit(pending, base64, json, lines);
          pending = null;
          if (ctl.streamNextOffset) offset = ctl.streamNextOffset;
          if (ctl.streamCursor) cursor = ctl.streamCursor;
          if (ctl.streamClosed) {
            console.error(`stream ${path} is closed; next offset ${offset}`);
            return 0;
          }
        }
      }
      // The server ends every SSE response after about a minute: carry on from the offset.
    } catch (e) {
      if (signal.aborted) return 0;
      await pause(`connection lost: ${(e as Error).message}`, failures++, signal);
    }
  }
  return 0;
}

async function emit(data: string, base64: boolean, json: boolean, lines: boolean) {
  if (base64) return out(Buffer.from(data, "base64"));
  if (!json) return out(data);
  if (!lines) return out(data + "\n");
  for (const v of JSON.parse(data) as unknown[]) await out(JSON.stringify(v) + "\n");
}

async function pause(why: string, attempt: number, signal: AbortSignal) {
  const ms = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!;
  if (signal.aborted) return;
  console.error(`[${why}; reconnecting in ${ms < 1000 ? `${ms} ms` : `${ms / 1000} s`}]`);
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}

/** Server-Sent Events from a response body: `event:` names it, `data:` lines join with \n. */
async function* events(body: ReadableStream<Uint8Array>): AsyncGenerator<{ type: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = "";
  let type = "message";
  let data: string[] = [];
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let nl = buffer.search(/\r\n|\r|\n/); nl >= 0; nl = buffer.search(/\r\n|\r|\n/)) {
      // A lone \r at the end of the buffer may be the first half of \r\n: wait for more.
      if (buffer[nl] === "\r" && nl === buffer.length - 1) break;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (data.length) yield { type, data: data.join("\n") };
        type = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "event") type = value;
      else if (name === "data") data.push(value);
    }
  }
}
