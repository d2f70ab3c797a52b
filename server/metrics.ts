// What an operator graphs and alerts on, in Prometheus' text format (GET /metrics on
// --metrics-addr, or on the main port with --metrics-token). One registry per process, as
// Prometheus' own clients keep one: a process serves one data dir. prom-client (the de-facto
// client, well kept) does the metric types and the exposition; its default Node collectors are
// not used — under Bun its event-loop delay monitor reports nonsense — so the process figures
// below are Warren's own. Modules record through the functions here; what is a count of live
// things (hosts, readers, sessions) is read when scraped, from whoever owns it.
import { readdirSync } from "node:fs";
import client from "prom-client";

export const registry = new client.Registry();

const counter = (name: string, help: string, labelNames: string[] = []) => new client.Counter({ name, help, labelNames, registers: [registry] });
const histogram = (name: string, help: string, buckets: number[], labelNames: string[] = []) => new client.Histogram({ name, help, buckets, labelNames, registers: [registry] });
/** A gauge read when scraped: `read()` may change (a module registers its source at start). */
function gauge(name: string, help: string, labelNames: string[] = []) {
  const sources: (() => number | [Record<string, string>, number][])[] = [];
  new client.Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const read of sources) {
        const v = read();
        if (typeof v === "number") this.inc(v);
        else for (const [labels, n] of v) this.inc(labels, n);
      }
    },
  });
  return (read: () => number | [Record<string, string>, number][]) => {
    sources.push(read);
    return () => void sources.splice(sources.indexOf(read), 1);
  };
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

// ---- HTTP ----
const requests = counter("warren_http_requests_total", "Requests answered, by route pattern, method and status", ["route", "method", "status"]);
const requestSeconds = histogram("warren_http_request_duration_seconds", "Time to answer a request (headers; a streamed body may go on), by route and status", SECONDS, ["route", "status"]);

export function httpRequest(route: string, method: string, status: number, seconds: number): void {
  const s = String(status);
  requests.inc({ route, method, status: s });
  requestSeconds.observe({ route, status: s }, seconds);
}

// ---- Auth ----
const auth = counter("warren_auth_attempts_total", "Credentials checked, by kind (session, api-key, jwt, ticket, app) and outcome (ok, refused, forbidden)", ["credential", "outcome"]);

export function authAttempt(credential: string, outcome: "ok" | "refused" | "forbidden"): void {
  auth.inc({ credential, outcome });
}

// ---- Streams ----
const appends = counter("warren_stream_appends_total", "Appends committed");
const appendBytes = counter("warren_stream_append_bytes_total", "Bytes appended");
const batchSize = histogram("warren_stream_batch_ops", "Operations committed together in one group commit", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
const commitSeconds = histogram("warren_stream_commit_duration_seconds", "Time from a batch's start to its durable commit", SECONDS);
export const streamReaders = gauge("warren_stream_live_readers", "Long-poll and SSE readers waiting on streams");

export function streamBatch(ops: number, appended: number, bytes: number, seconds: number): void {
  batchSize.observe(ops);
  commitSeconds.observe(seconds);
  if (appended) appends.inc(appended);
  if (bytes) appendBytes.inc(bytes);
}

// ---- Relay ----
export const hostsOnline = gauge("warren_relay_hosts_online", "Hosts connected to this replica");
export const relayStreams = gauge("warren_relay_streams_open", "Relay streams open to hosts on this replica");
const relayBytes = counter("warren_relay_bytes_total", "Stream bytes through the relay, by direction (to_host, from_host)", ["direction"]);
const creditStalls = counter("warren_relay_credit_stalls_total", "Times a stream had data to send but no credit (its reader was behind)");

/** What one host connection's multiplexer reports (relay/mux.ts `Meter`). */
export const relayMeter = {
  sent: (n: number) => relayBytes.inc({ direction: "to_host" }, n),
  received: (n: number) => relayBytes.inc({ direction: "from_host" }, n),
  stalled: () => creditStalls.inc(),
};

// ---- Terminals (the server's own host) ----
export const terminalSessions = gauge("warren_terminal_sessions", "Terminal sessions on the server's own host, by state (running, exited)", ["state"]);
export const terminalClients = gauge("warren_terminal_clients", "Clients attached to terminals on the server's own host");
const terminalBytes = counter("warren_terminal_output_bytes_total", "Bytes terminals on the server's own host wrote");
const ringOverflows = counter("warren_terminal_ring_overflows_total", "Times a client fell out of a terminal's output ring and was reset");

/** What terminal sessions report (pty/session.ts `SessionMeter`). */
export const terminalMeter = {
  output: (n: number) => terminalBytes.inc(n),
  overflow: () => ringOverflows.inc(),
};

// ---- Database ----
const dbWrites = histogram("warren_db_write_duration_seconds", "Time from a write transaction's start to its durable commit", SECONDS);
export const dbWaiting = gauge("warren_db_writes_waiting", "Write transactions queued or in flight");

export function dbWrite(seconds: number): void {
  dbWrites.observe(seconds);
}

// ---- Process ----
export const logWriteErrors = gauge("warren_log_write_errors", "Log writes that failed (the lines are lost): a closed pipe, a full disk");
const startSeconds = Date.now() / 1000;
let lag = 0;
new client.Gauge({ name: "warren_process_start_time_seconds", help: "When the process started", registers: [registry], collect() {
  this.set(startSeconds);
} });
new client.Gauge({ name: "warren_process_resident_memory_bytes", help: "Resident memory", registers: [registry], collect() {
  this.set(process.memoryUsage.rss());
} });
new client.Counter({ name: "warren_process_cpu_seconds_total", help: "CPU time used, user and system", registers: [registry], collect() {
  const u = process.cpuUsage();
  this.reset();
  this.inc((u.user + u.system) / 1e6);
} });
new client.Gauge({ name: "warren_process_open_fds", help: "Open file descriptors (Linux)", registers: [registry], collect() {
  try {
    this.set(readdirSync("/proc/self/fd").length);
  } catch {
    // Not Linux: no such figure.
  }
} });
new client.Gauge({ name: "warren_event_loop_lag_seconds", help: "How late the event loop ran a timer, at most, over the last second", registers: [registry], collect() {
  this.set(lag);
} });

const LAG_EVERY_MS = 250;
let window: number[] = [];
let expected = performance.now() + LAG_EVERY_MS;
const lagTimer = setInterval(() => {
  const now = performance.now();
  window.push(Math.max(0, now - expected) / 1000);
  if (window.length > 1000 / LAG_EVERY_MS) window = window.slice(-1000 / LAG_EVERY_MS);
  lag = Math.max(...window);
  expected = now + LAG_EVERY_MS;
}, LAG_EVERY_MS);
lagTimer.unref();

/** The exposition, for a scrape. */
export async function scrape(): Promise<{ body: string; contentType: string }> {
  return { body: await registry.metrics(), contentType: registry.contentType };
}
