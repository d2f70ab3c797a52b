// warren term new | ls | attach | kill — terminals on a host, from a shell.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeSecretFile } from "../../server/datadir";
import { ACK_EVERY, CLOSE, encode, parseServer } from "../../pty/protocol";
import type { Command } from "../command";
import { client, clientFlags, ClientError, configDir, describeFailure, type Client } from "../client";
import { UsageError } from "../flags";
import { parseDuration } from "../../server/config";

interface Terminal {
  id: string;
  cmd: string[];
  cols: number;
  rows: number;
  createdAt: string;
  attached: number;
  offset: number;
  exit: { code: number | null; signal: string | null } | null;
}

const hostFlag = { type: "string" as const, value: "host", env: "WARREN_HOST_ID", default: "local", help: "Which host (default: the server's own)" };
const base = (flags: Record<string, unknown>) => `/api/hosts/${encodeURIComponent((flags.host as string) ?? "local")}/terminals`;
const DETACH = 0x1c; // Ctrl-\
const EOT = 0x04; // Ctrl-D: end of input to a program reading the terminal
/** After piped input ends, Ctrl-D goes once the program has been this quiet (waiting for input, as likely as not). */
const EOT_QUIET_MS = 1_000;
const DEFAULT_SETTLE = "30s";

const settleFlag = {
  type: "string" as const,
  value: "duration",
  default: DEFAULT_SETTLE,
  help: "With piped stdin: once it has ended, give up on a program that prints nothing for this long (detach, exit 1); 0 waits however long",
};

function settleMs(flags: Record<string, unknown>): number {
  const value = (flags.settle as string | undefined) ?? DEFAULT_SETTLE;
  return value.trim() === "0" ? 0 : parseDuration(value, "--settle", 100, 7 * 86_400_000);
}

export const termNew: Command = {
  spec: {
    name: "term new",
    summary: "Start a terminal on a host and print its id (or, with --attach, attach to it).",
    usage: "warren term new [--host H] [--cwd DIR] [--attach | --json] [-- cmd args…]",
    flags: {
      ...clientFlags,
      host: hostFlag,
      cwd: { type: "string", value: "dir", help: "Working directory on the host (default: its home)" },
      attach: { type: "boolean", help: "Attach to it at once, as warren term attach <id> does (the id goes to stderr)" },
      settle: settleFlag,
      json: { type: "boolean", help: "Print the terminal as JSON" },
    },
    details: [
      "Without a command it runs your shell. Attach with: warren term attach <id>",
      "",
      "Examples:",
      "  warren term new --attach",
      "  warren term new --cwd /srv/app -- npm run dev",
      "  echo 'make test; exit' | warren term new --attach    # exits with make's status",
    ].join("\n"),
  },
  async run(flags, positionals) {
    if (flags.attach && flags.json) throw new UsageError("give --attach or --json, not both: an attached terminal's output is what stdout carries", "term new");
    const settle = settleMs(flags);
    const c = client(flags);
    const size = { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
    const t = await c.json<Terminal>("POST", base(flags), { ...size, ...(positionals.length ? { cmd: positionals } : {}), ...(flags.cwd ? { cwd: flags.cwd } : {}) });
    if (!flags.attach) {
      console.log(flags.json ? JSON.stringify(t) : t.id);
      return 0;
    }
    process.stderr.write(`[terminal ${t.id}; Ctrl-\\ detaches, warren term attach ${t.id} resumes]${process.stdin.isTTY ? "\r\n" : "\n"}`);
    return attachTo(c, flags, t.id, false, settle);
  },
};

export const termLs: Command = {
  spec: {
    name: "term ls",
    summary: "List the terminals on a host.",
    usage: "warren term ls [--host H] [--json]",
    flags: { ...clientFlags, host: hostFlag, json: { type: "boolean", help: "Print as JSON" } },
  },
  async run(flags) {
    const { terminals } = await client(flags).json<{ terminals: Terminal[] }>("GET", base(flags));
    if (flags.json) console.log(JSON.stringify(terminals));
    else if (terminals.length === 0) {
      // The same host the listing was for: a bare `term new` would start it on the server's own.
      const host = (flags.host as string | undefined) ?? "local";
      console.log(`no terminals; start one with: warren term new${host === "local" ? "" : ` --host ${host}`} --attach`);
    }
    else
      for (const t of terminals) {
        const state = t.exit ? `exited ${t.exit.signal ?? t.exit.code}` : `running, ${t.attached} attached`;
        console.log(`${t.id}  ${t.cmd.join(" ")}  ${state}  ${t.offset} bytes  since ${t.createdAt}`);
      }
    return 0;
  },
};

export const termKill: Command = {
  spec: {
    name: "term kill",
    summary: "End a terminal (SIGHUP, then SIGKILL after 5 s).",
    usage: "warren term kill <id> [--host H] [--json]",
    flags: { ...clientFlags, host: hostFlag, json: { type: "boolean", help: "Print the terminal as JSON" } },
  },
  async run(flags, positionals) {
    const id = one(positionals, "term kill");
    const t = await client(flags).json<Terminal>("DELETE", `${base(flags)}/${encodeURIComponent(id)}`);
    console.log(flags.json ? JSON.stringify(t) : `killed ${id}`);
    return 0;
  },
};

export const termAttach: Command = {
  spec: {
    name: "term attach",
    summary: "Attach this terminal to a session; Ctrl-\\ detaches and leaves it running.",
    usage: "warren term attach <id> [--host H] [--view] [--settle D]",
    flags: { ...clientFlags, host: hostFlag, view: { type: "boolean", help: "Watch only: never type into or resize it" }, settle: settleFlag },
    details: [
      "Attaching again resumes where this machine left off, with nothing repeated.",
      "Exits with the program's exit code when it ends.",
      "",
      "With stdin not a terminal (a pipe, a file), its bytes are typed into the program. When they end,",
      "Ctrl-D (end of input) is typed once the program has been quiet for a second (again after each",
      "further burst of output), and the program's exit ends the attach with its status: a shell fed",
      "commands exits after the last. A program that prints nothing for --settle after the input",
      "ended is left running, detached, with exit 1 (it did not finish).",
      "",
      "Examples:",
      "  warren term attach term_3f9a",
      "  echo 'echo hi; exit' | warren term attach term_3f9a    # prints hi, exits 0",
    ].join("\n"),
  },
  async run(flags, positionals) {
    const id = one(positionals, "term attach");
    const settle = settleMs(flags);
    return attachTo(client(flags), flags, id, !!flags.view, settle);
  },
};

function attachTo(c: Client, flags: Record<string, unknown>, id: string, view: boolean, settle: number): Promise<number> {
  return attachLoop(c, `${base(flags)}/${encodeURIComponent(id)}/attach`, `${c.server} ${flags.host ?? "local"} ${id}`, id, view, settle);
}

function one(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError("give exactly one terminal id (see warren term ls)", command);
  return positionals[0]!;
}

// Where each attach left off, per server/host/terminal, so the next attach resumes from there.
const OFFSETS = "terminals.json";
function offsets(): Record<string, number> {
  const path = join(configDir(), OFFSETS);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Record<string, number>) : {};
}
function saveOffset(key: string, offset: number | null) {
  const all = offsets();
  if (offset === null) delete all[key];
  else all[key] = offset;
  writeSecretFile(configDir(), OFFSETS, JSON.stringify(all) + "\n");
}

async function attachLoop(c: Client, path: string, key: string, id: string, view: boolean, settleMs: number): Promise<number> {
  const since = offsets()[key];
  const q = new URLSearchParams({ cols: String(process.stdout.columns || 80), rows: String(process.stdout.rows || 24), ...(view ? { mode: "view" } : {}) });
  if (since !== undefined) q.set("since", String(since));
  const url = `${c.server.replace(/^http/, "ws")}${path}?${q}`;
  const ws = new WebSocket(url, { headers: c.headers } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  const tty = process.stdin.isTTY;
  let offset = since ?? 0;
  let acked = offset;
  let opened = false;
  let outcome: number | undefined;
  let note: string | undefined;
  // After piped input ends: Ctrl-D when the program goes quiet, and giving up when it stays so.
  let inputEnded = false;
  let printedSinceEot = true;
  let eotTimer: ReturnType<typeof setTimeout> | undefined;
  let settleTimer: ReturnType<typeof setTimeout> | undefined;
  const stopTimers = () => {
    clearTimeout(eotTimer);
    clearTimeout(settleTimer);
  };
  const restore = () => {
    stopTimers();
    if (tty) process.stdin.setRawMode(false);
    process.stdin.pause();
  };
  return new Promise<number>((resolve, reject) => {
    // Ctrl-D typed while a program is still starting can be lost (a shell switching the terminal
    // to raw mode drops it), so it goes when the program has gone quiet, and again whenever it has
    // printed since: one per burst of output, never a stream of them into a silent program.
    const quiet = () => {
      stopTimers();
      const live = () => outcome === undefined && ws.readyState === WebSocket.OPEN;
      if (printedSinceEot)
        eotTimer = setTimeout(() => {
          if (!live()) return;
          printedSinceEot = false;
          ws.send(new Uint8Array([EOT]));
        }, EOT_QUIET_MS);
      if (settleMs > 0)
        settleTimer = setTimeout(() => {
          if (!live()) return;
          outcome = 1;
          note = `input ended, but the program neither exited nor printed anything for ${settleMs / 1000} s: detached, it is still running (warren term attach ${id} resumes, warren term kill ${id} ends it)`;
          saveOffset(key, offset);
          ws.close(1000, "detached");
        }, settleMs);
    };
    const finish = (code: number, note?: string) => {
      restore();
      if (note) process.stderr.write(`${tty ? "\r\n" : ""}[${note}]\n`);
      resolve(code);
    };
    ws.onopen = () => {
      opened = true;
      if (tty) process.stdin.setRawMode(true);
      process.stdin.on("data", (data: Buffer) => {
        const at = data.indexOf(DETACH);
        if (at >= 0) {
          if (at > 0 && !view) ws.send(data.subarray(0, at));
          outcome = 0;
          saveOffset(key, offset);
          ws.close(1000, "detached");
          return;
        }
        if (!view) ws.send(data);
      });
      // Piped input has an end, which a terminal says with Ctrl-D: a shell reading commands from
      // the pipe then exits, and so does this attach, with its status. A program that ignores it
      // is left running once it has been quiet for --settle, so that a script never hangs on it.
      process.stdin.on("end", () => {
        if (tty || view || outcome !== undefined || ws.readyState !== WebSocket.OPEN) return;
        inputEnded = true;
        quiet();
      });
      process.stdin.resume();
      process.stdout.on("resize", () => ws.send(encode({ type: "resize", cols: process.stdout.columns, rows: process.stdout.rows })));
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") {
        const bytes = new Uint8Array(e.data as ArrayBuffer);
        process.stdout.write(bytes);
        offset += bytes.length;
        if (inputEnded) {
          printedSinceEot = true;
          quiet();
        }
        if (offset - acked >= ACK_EVERY) {
          acked = offset;
          ws.send(encode({ type: "ack", offset }));
        }
        return;
      }
      const m = parseServer(e.data);
      if (m?.type === "hello") {
        offset = acked = m.offset;
      } else if (m?.type === "reset") {
        // After the hello: the saved offset is no longer in the history; later: this client fell behind.
        process.stderr.write(m.offset === offset && since !== undefined ? "[earlier output was dropped from the history; showing what is kept]\r\n" : "[this client fell behind; some output was skipped]\r\n");
        offset = acked = m.offset;
      } else if (m?.type === "exit") {
        stopTimers();
        saveOffset(key, null);
        outcome = m.signal ? 1 : (m.code ?? 1);
        process.stderr.write(`${tty ? "\r\n" : ""}[exited ${m.signal ? `on ${m.signal}` : `with code ${m.code}`}]\n`);
      }
    };
    ws.onclose = (e) => {
      if (!opened) {
        restore();
        // A refused upgrade shows no status to a WebSocket: ask the same question over HTTP.
        const listing = path.replace(/\/[^/]+\/attach$/, "");
        return c
          .request("GET", listing)
          .then(async (r) => {
            const id = decodeURIComponent(path.split("/").at(-2)!);
            if (!r.ok) return `could not attach: ${await describeFailure(r, c.server, c.credential)}`;
            const { terminals } = (await r.json()) as { terminals: { id: string }[] };
            return terminals.some((t) => t.id === id) ? `could not attach to ${id} (connection refused)` : `no terminal ${id} on this host (see warren term ls)`;
          })
          .then((m) => reject(new ClientError(m)), reject);
      }
      if (outcome !== undefined) return finish(outcome, note ?? (outcome === 0 && e.reason === "detached" ? "detached; attach again to resume" : undefined));
      saveOffset(key, offset);
      finish(
        1,
        e.code === CLOSE.GOING_AWAY
          ? "the server is restarting; attach again to resume"
          : e.code === CLOSE.HOST_GONE
            ? "the host disconnected; attach again to resume once it is back"
            : `connection lost (${e.code}); attach again to resume`,
      );
    };
  });
}
