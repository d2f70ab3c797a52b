// warren doctor — is this setup sound? Each check is one line: ok, problem (exit 1) or a note,
// with a hint that says what to do. What a person asks first when something does not work:
// can I reach the server, is it Warren, do our clocks agree, is the connection private, is my
// stored login still good, is this machine's host agent connected.
import { isLoopback } from "../../server/config";
import { client, clientFlags, type Client } from "../client";
import type { Command } from "../command";
import { agentStatus } from "./host";

type Status = "ok" | "problem" | "note";

interface Check {
  check: string;
  status: Status;
  detail: string;
  hint?: string;
}

interface About {
  service?: string;
  version?: string;
  database?: string;
  policy?: string;
  publicUrl?: string | null;
  appsUrl?: string | null;
  time?: string;
}

/** Clocks further apart than this make JWTs look expired or not yet valid. */
const SKEW_PROBLEM_S = 30;
const SKEW_NOTE_S = 5;

async function timed(c: Client, path: string, anonymous = false): Promise<{ r: Response; ms: number } | { error: string }> {
  const started = performance.now();
  try {
    const r = await fetch(c.server + path, { headers: anonymous ? {} : c.headers, signal: AbortSignal.timeout(10_000) });
    return { r, ms: Math.round(performance.now() - started) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

async function diagnose(c: Client): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (check: string, status: Status, detail: string, hint?: string) => checks.push({ check, status, detail, ...(hint ? { hint } : {}) });

  const health = await timed(c, "/healthz");
  if ("error" in health) {
    add("server", "problem", `cannot reach ${c.server}: ${health.error}`, "is `warren serve` running there, and is this the address it listens on (--server, WARREN_SERVER)?");
    return checks;
  }
  // Anonymously first: whether it is Warren at all must not depend on the credential being good.
  const about = await timed(c, "/api/server", true);
  const anon = "error" in about ? null : ((await about.r.json().catch(() => null)) as About | null);
  if (!anon || anon.service !== "warren") {
    add("server", "problem", `${c.server} answers, but it is not a Warren server (GET /api/server: ${"error" in about ? about.error : `HTTP ${about.r.status}`})`, "check the URL: another program may hold that port");
    return checks;
  }
  const detailed = c.credential === "none" ? null : await timed(c, "/api/server");
  const info = (detailed && !("error" in detailed) && detailed.r.ok ? ((await detailed.r.json().catch(() => null)) as About | null) : null) ?? anon;
  if (health.r.status !== 200) add("server", "problem", `${c.server} is Warren, but /healthz answered ${health.r.status}: its database does not answer`, "look at the server's log");
  else add("server", "ok", `${c.server} answered /healthz in ${health.ms} ms${info.version ? `; warren ${info.version} on ${info.database}` : ""}`);

  // Clock skew, from the server's own Date header (one-second resolution).
  const date = Date.parse(health.r.headers.get("date") ?? "");
  if (Number.isFinite(date)) {
    const skew = Math.abs(Date.now() - date) / 1000;
    if (skew > SKEW_PROBLEM_S) add("clock", "problem", `this machine's clock and the server's differ by ${Math.round(skew)} s`, "tokens look expired or not yet valid: run NTP on both");
    else if (skew > SKEW_NOTE_S) add("clock", "note", `the clocks differ by ${Math.round(skew)} s`, "run NTP on both machines");
    else add("clock", "ok", "this machine and the server agree on the time");
  }

  const url = new URL(c.server);
  if (url.protocol === "https:") add("transport", "ok", "https, and its certificate verified");
  else if (isLoopback(url.hostname)) add("transport", "ok", "plain http, on this machine only (loopback)");
  else add("transport", "problem", `plain http to ${url.hostname}: credentials cross the network unencrypted`, "put Warren behind TLS (its --public-url https://…) and use that URL");
  if (info.publicUrl && info.publicUrl !== c.server) {
    add("public url", "note", `the server's public URL is ${info.publicUrl}, you reached it at ${c.server}`, "links, cookies and JWTs use the public URL: use it here too (--server)");
  }

  if (c.credential === "none") add("credential", "note", `not signed in to ${c.server}`, `warren auth login <pairing link> (warren pair on the server gives one)`);
  else {
    const me = await timed(c, "/api/auth/session");
    const body = "error" in me ? null : ((await me.r.json().catch(() => null)) as { authenticated?: boolean; user?: { name: string }; expiresAt?: string | null; apiKey?: { name: string } } | null);
    const what = c.credential === "api-key" ? "the API key" : "the stored session";
    if (!body?.authenticated) {
      const status = "error" in me ? me.error : `HTTP ${me.r.status}`;
      add("credential", "problem", `the server rejected ${what} (${status})`, c.credential === "api-key" ? "make a new key on the dashboard or with warren apikey create" : "sign in again: warren auth login <pairing link>");
    } else {
      const until = body.expiresAt ? `, valid until ${body.expiresAt} (renewed while used)` : "";
      add("credential", "ok", `${what}${body.apiKey ? ` "${body.apiKey.name}"` : ""} signs in as ${body.user?.name ?? "?"}${until}`);
    }
  }

  const agent = agentStatus();
  if (!agent) add("host agent", "note", "no host agent runs on this machine", "warren host start --daemon makes it a host");
  else if (agent.status === "connected") add("host agent", "ok", `connected to ${agent.server} as ${agent.name} since ${agent.connectedSince}`);
  else add("host agent", "problem", `the host agent (pid ${agent.pid}) is ${agent.status}${agent.lastError ? `: ${agent.lastError}` : ""}`, "see warren host status, and ~/.warren/host/host.log");
  return checks;
}

export const doctor: Command = {
  spec: {
    name: "doctor",
    summary: "Check this setup: the server, its version and database, clocks, TLS, your login, the host agent.",
    usage: "warren doctor [--server url] [--api-key key] [--json]",
    flags: { ...clientFlags, json: { type: "boolean", help: "Print the checks as JSON" } },
    details: "Each check prints ok, problem or note, with a hint. Exit 1 when any check found a problem.",
  },
  async run(flags) {
    const checks = await diagnose(client(flags));
    if (flags.json) console.log(JSON.stringify({ checks }, null, 2));
    else {
      const width = Math.max(...checks.map((c) => c.check.length));
      for (const c of checks) {
        console.log(`${c.status.padEnd(8)} ${c.check.padEnd(width)}  ${c.detail}`);
        if (c.hint && c.status !== "ok") console.log(`${" ".repeat(9 + width)}  hint: ${c.hint}`);
      }
    }
    return checks.some((c) => c.status === "problem") ? 1 : 0;
  },
};
