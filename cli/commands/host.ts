// warren host start | status | stop — make this machine a host teammates reach through the
// server's relay (SPEC §4, §6). The agent runs the same terminal service as the server's local
// host. `--daemon` detaches, but returns only once the host is connected — or exits 1 saying why
// (STYLE: a daemon whose child's output was discarded timed out in silence; ours is logged and
// its last words are printed).
import { spawn } from "node:child_process";
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import { bunTerminal, DEFAULTS, TerminalService } from "../../pty";
import { serviceHost } from "../../pty/host";
import { HostAgent, type AgentState } from "../../relay/agent";
import type { HostEntry } from "../../server/relay/directory";
import { HOST_NAME, HOST_NAME_RULE } from "../../relay/codec";
import { EXIT_FAILURE, EXIT_OK, type Command } from "../command";
import { client, clientFlags, ClientError, configDir, describeFailure } from "../client";
import { UsageError } from "../flags";
import { VERSION } from "./version";

/** ~/.warren/host/: the agent's pid, state and log (WARREN_HOME moves it like the rest). */
const hostDir = () => join(configDir(), "host");
const PID = "host.pid";
const STATE = "state.json";
const LOG = "host.log";
const INSTANCE = "instance";
/** The detached child knows it is one (it writes the pid file; the parent waits on the state). */
const DAEMON_ENV = "WARREN_HOST_DAEMON_CHILD";
/** A daemon that neither connects nor fails within this long is stopped, with its last log line. */
const DAEMON_START_MS = 45_000;
const STOP_WAIT_MS = 10_000;

interface StateFile extends AgentState {
  pid: number;
  server: string;
  name: string;
  exposed: number[];
  updatedAt: string;
}

/** This agent's own id, made once per machine (and WARREN_HOME): see AgentOptions.instance. */
function instanceId(): string {
  const path = join(hostDir(), INSTANCE);
  try {
    const id = readFileSync(path, "utf8").trim();
    if (/^[0-9a-f]{32}$/.test(id)) return id;
  } catch {
    // First start on this machine.
  }
  const id = randomBytes(16).toString("hex");
  mkdirSync(hostDir(), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${id}\n`, { mode: 0o600 });
  return id;
}

function defaultName(): string {
  const n = hostname().split(".")[0]!.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 63);
  return HOST_NAME.test(n) ? n : "host";
}

function writeState(s: StateFile): void {
  mkdirSync(hostDir(), { recursive: true, mode: 0o700 });
  const tmp = join(hostDir(), `${STATE}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(s) + "\n", { mode: 0o600 });
  renameSync(tmp, join(hostDir(), STATE));
}

function readState(): StateFile | null {
  try {
    return JSON.parse(readFileSync(join(hostDir(), STATE), "utf8")) as StateFile;
  } catch {
    return null;
  }
}

function runningPid(): number | null {
  try {
    const pid = Number(readFileSync(join(hostDir(), PID), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** Signal 0 succeeds on a zombie too (a killed daemon whose new parent has not reaped it yet). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true; // no /proc (macOS): signal 0 is all we have
  }
}

function ports(values: string[] | undefined): number[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => {
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--expose takes port numbers (1–65535), got "${v}"`, "host start");
    return n;
  });
}

export const hostStart: Command = {
  spec: {
    name: "host start",
    summary: "Connect this machine to the server as a host; teammates open terminals on it.",
    usage: "warren host start [--server URL] [--api-key KEY] [--name N] [--daemon] [--expose PORT…]",
    flags: {
      ...clientFlags,
      name: { type: "string", value: "name", env: "WARREN_HOST_NAME", help: "How the host is listed and addressed (default: this machine's hostname)" },
      daemon: { type: "boolean", help: "Run in the background; returns once connected (log: ~/.warren/host/host.log)" },
      expose: { type: "list", value: "port", help: "A port on this machine's loopback that members may reach; repeatable" },
    },
    details: `The credential is --api-key / WARREN_API_KEY (the host joins the key's organization), else
your stored session (its active organization). Exit codes: 0 stopped cleanly, 1 could not connect
(the reason is printed), 2 usage.

Examples:
  WARREN_API_KEY=sk_live_… warren host start --daemon --server https://warren.example.com
  warren host start --name build-box --expose 3000
  warren host status
  warren host stop`,
  },
  async run(flags) {
    const chosen = flags.name as string | undefined;
    const name = chosen ?? defaultName();
    if (!HOST_NAME.test(name)) throw new UsageError(`--name: ${HOST_NAME_RULE}`, "host start");
    const exposed = ports(flags.expose as string[] | undefined);
    const c = client(flags);
    if (c.credential === "none") {
      throw new ClientError(`no credential for ${c.server}: pass --api-key (or set WARREN_API_KEY), or sign in with: warren auth login ${c.server}`);
    }
    if (bunTerminal.unavailable) throw new ClientError(`cannot host terminals here: ${bunTerminal.unavailable}`);
    const running = runningPid();
    if (running && running !== process.pid) throw new ClientError(`a host agent is already running (pid ${running}); see warren host status, or stop it with warren host stop`);
    if (flags.daemon) return daemonize(c.server, name);
    return foreground(c, name, chosen === undefined, exposed, !!process.env[DAEMON_ENV]);
  },
};

async function foreground(c: ReturnType<typeof client>, name: string, autoName: boolean, exposed: number[], detached: boolean): Promise<number> {
  const stamp = () => new Date().toISOString();
  const log = (line: string) => process.stderr.write(`${stamp()} ${line}\n`);
  // The server hears when the terminal list changes, for dashboards that show it live.
  const service = new TerminalService(bunTerminal, { ...DEFAULTS, onChange: () => agent.changed() });
  const base: Omit<StateFile, keyof AgentState> = { pid: process.pid, server: c.server, name, exposed, updatedAt: stamp() };
  mkdirSync(hostDir(), { recursive: true, mode: 0o700 });
  writeFileSync(join(hostDir(), PID), `${process.pid}\n`, { mode: 0o600 });
  const cleanup = () => {
    if (runningPid() === process.pid) rmSync(join(hostDir(), PID), { force: true });
  };
  const agent = new HostAgent({
    server: c.server,
    name,
    autoName,
    instance: instanceId(),
    version: VERSION,
    request: (path) => c.request("GET", path),
    describe: (r) => describeFailure(r, c.server, c.credential),
    terminals: serviceHost(service),
    exposed: new Set(exposed),
    log,
    onState: (s) => writeState({ ...base, ...s, updatedAt: stamp() }),
  });
  writeState({ ...base, status: "connecting" });
  log(`connecting to ${c.server} as ${name}${exposed.length ? `, exposing port${exposed.length > 1 ? "s" : ""} ${exposed.join(", ")}` : ""}`);
  // From the start: a stop asked for at any moment (even as the first connection completes) is
  // a clean stop, never the signal's default death.
  let stopping = false;
  const stop = () => {
    stopping = true;
    log("stopping");
    agent.stop();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  let started: AgentState | undefined;
  try {
    started = await agent.start();
  } catch (e) {
    cleanup();
    if (stopping) return EXIT_OK;
    writeState({ ...base, status: "stopped", lastError: (e as Error).message });
    throw new ClientError((e as Error).message);
  }
  if (!detached && !stopping) console.log(`connected: ${listed(name, started?.listedAs)} is reachable through ${c.server} (Ctrl-C to stop)`);
  const failure = await agent.done;
  service.shutdown();
  cleanup();
  if (failure) {
    console.error(`warren host start: ${failure.message}`);
    return EXIT_FAILURE;
  }
  log("stopped");
  return EXIT_OK;
}

/** Starts a detached agent and waits until it is connected, or reports why it is not. */
async function daemonize(server: string, name: string): Promise<number> {
  mkdirSync(hostDir(), { recursive: true, mode: 0o700 });
  rmSync(join(hostDir(), STATE), { force: true });
  const logPath = join(hostDir(), LOG);
  const logFd = openSync(logPath, "a", 0o600);
  // Only this start's lines count as its last words; earlier runs appended to the same log.
  const from = fstatSync(logFd).size;
  const args = process.argv.slice(process.argv[1] && !process.argv[1].startsWith("/$bunfs") ? 2 : 1).filter((a) => a !== "--daemon");
  const self = process.argv[1] && !process.argv[1].startsWith("/$bunfs") ? [process.argv[1]] : [];
  // Credentials reach the child through its environment (inherited), never its argv.
  const child = spawn(process.execPath, [...self, ...args], {
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: { ...process.env, [DAEMON_ENV]: "1", WARREN_SERVER: server },
  });
  closeSync(logFd);
  const pid = child.pid!;
  let exited: number | null = null;
  child.on("exit", (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + DAEMON_START_MS;
  for (;;) {
    const s = readState();
    if (s?.pid === pid && s.status === "connected") {
      console.log(`connected: ${listed(name, s.listedAs)} is reachable through ${server} (pid ${pid}, log ${logPath})`);
      return EXIT_OK;
    }
    if (exited !== null || !alive(pid)) {
      console.error(`warren host start: ${lastWords(logPath, from) ?? `the host agent exited (${exited ?? "?"}) before it connected; see ${logPath}`}`);
      return EXIT_FAILURE;
    }
    if (Date.now() > deadline) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // Already gone.
      }
      console.error(`warren host start: not connected after ${DAEMON_START_MS / 1000} s; last: ${s?.lastError ?? readLines(logPath, from).at(-1) ?? "nothing logged"} (log ${logPath})`);
      return EXIT_FAILURE;
    }
    await Bun.sleep(50);
  }
}

/** The name to address the host by, saying so when the server listed it under another one. */
function listed(asked: string, got: string | undefined): string {
  return got && got !== asked ? `${got} (${asked} is another machine's)` : asked;
}

/** The reason a failed agent printed (its "warren host start: …" line), without the prefix. */
function lastWords(logPath: string, from: number): string | null {
  const words = readLines(logPath, from).reverse().find((l) => l.startsWith("warren host start: "));
  return words ? words.slice("warren host start: ".length) : null;
}

/** The last lines of the log written since byte offset `from`. */
function readLines(path: string, from: number): string[] {
  try {
    return readFileSync(path).subarray(from).toString("utf8").split("\n").filter(Boolean).slice(-50);
  } catch {
    return [];
  }
}

/** The running agent's state, or null when none runs on this machine (for warren doctor too). */
export function agentStatus(): (StateFile & { pid: number }) | null {
  const pid = runningPid();
  const s = readState();
  return pid !== null && s?.pid === pid ? s : null;
}

export const hostStatus: Command = {
  spec: {
    name: "host status",
    summary: "Is the host agent running and connected? (exit 0 when running)",
    usage: "warren host status [--json]",
    flags: { json: { type: "boolean", help: "Print as JSON" } },
  },
  async run(flags) {
    const agent = agentStatus();
    const last = agent ?? readState();
    const running = agent !== null;
    const out = agent
      ? { running: true, pid: agent.pid, server: agent.server, name: agent.listedAs ?? agent.name, status: agent.status, hostId: agent.hostId ?? null, connectedSince: agent.connectedSince ?? null, exposed: agent.exposed, lastError: agent.lastError ?? null, log: join(hostDir(), LOG) }
      : { running: false, lastError: last?.lastError ?? null };
    if (flags.json) console.log(JSON.stringify(out));
    else if (!agent) console.log(`not running${last?.lastError ? ` (last error: ${last.lastError})` : ""}; start it with: warren host start --daemon`);
    else {
      console.log(`${agent.listedAs ?? agent.name}: ${agent.status}${agent.connectedSince ? ` since ${agent.connectedSince}` : ""}`);
      console.log(`  server  ${agent.server}\n  pid     ${agent.pid}\n  host id ${agent.hostId ?? "-"}\n  log     ${join(hostDir(), LOG)}`);
      if (agent.exposed.length) console.log(`  exposed ${agent.exposed.join(", ")}`);
      if (agent.status !== "connected" && agent.lastError) console.log(`  last error: ${agent.lastError}`);
    }
    return running ? EXIT_OK : EXIT_FAILURE;
  },
};

export const hostStop: Command = {
  spec: {
    name: "host stop",
    summary: "Stop the host agent (its terminals end with it).",
    usage: "warren host stop",
    flags: {},
  },
  async run() {
    const pid = runningPid();
    if (!pid) {
      console.log("no host agent is running");
      return EXIT_OK;
    }
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + STOP_WAIT_MS;
    while (alive(pid) && Date.now() < deadline) await Bun.sleep(50);
    if (alive(pid)) {
      process.kill(pid, "SIGKILL");
      console.log(`host agent (pid ${pid}) did not stop in ${STOP_WAIT_MS / 1000} s; killed`);
    } else console.log(`stopped host agent (pid ${pid})`);
    rmSync(join(hostDir(), PID), { force: true });
    return EXIT_OK;
  },
};

/** What GET /api/hosts lists for each host: the server's own type, not a copy of it. */
type HostListing = HostEntry;

export const hostLs: Command = {
  spec: {
    name: "host ls",
    summary: "List the hosts you can reach: the server's own and those that connected to it.",
    usage: "warren host ls [--json]",
    flags: { ...clientFlags, json: { type: "boolean", help: "Print as JSON" } },
  },
  async run(flags) {
    const { hosts } = await client(flags).json<{ hosts: HostListing[] }>("GET", "/api/hosts");
    if (flags.json) {
      console.log(JSON.stringify(hosts));
      return EXIT_OK;
    }
    if (hosts.length === 0) {
      console.log("no hosts; connect a machine with: WARREN_API_KEY=… warren host start --daemon --server <url>");
      return EXIT_OK;
    }
    const rows = hosts.map((h) => [
      h.name,
      h.kind,
      h.online ? `online since ${h.connectedSince ?? "?"}` : `offline, last seen ${h.lastSeen}`,
      [h.platform, h.version && `v${h.version}`].filter(Boolean).join(" ") || "-",
      h.ports.length ? `ports ${h.ports.join(",")}` : "",
      h.id,
    ]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd());
    return EXIT_OK;
  },
};

export const hostRm: Command = {
  spec: {
    name: "host rm",
    summary: "Remove a host from its organization (owners and admins); a connected one is disconnected first.",
    usage: "warren host rm <name|id>",
    flags: { ...clientFlags },
    details: "Its agent stops and does not reconnect; `warren host start` on that machine adds it again.",
  },
  async run(flags, positionals) {
    const host = onlyArg(positionals, "host rm", "a host name or id");
    await client(flags).json("DELETE", `/api/hosts/${encodeURIComponent(host)}`);
    console.log(`removed host ${host}`);
    return EXIT_OK;
  },
};

export const hostRename: Command = {
  spec: {
    name: "host rename",
    summary: "Give a host another name (owners and admins); it keeps it across reconnects.",
    usage: "warren host rename <name|id> <new-name>",
    flags: { ...clientFlags, json: { type: "boolean", help: "Print the renamed host as JSON" } },
  },
  async run(flags, positionals) {
    if (positionals.length !== 2) throw new UsageError("give the host (name or id) and its new name", "host rename");
    const [host, name] = positionals as [string, string];
    if (!HOST_NAME.test(name)) throw new UsageError(HOST_NAME_RULE, "host rename");
    const renamed = await client(flags).json<HostListing>("PATCH", `/api/hosts/${encodeURIComponent(host)}`, { name });
    console.log(flags.json ? JSON.stringify(renamed) : `renamed ${host} to ${renamed.name}`);
    return EXIT_OK;
  },
};

function onlyArg(positionals: string[], command: string, what: string): string {
  if (positionals.length !== 1) throw new UsageError(`give exactly one argument: ${what}`, command);
  return positionals[0]!;
}
