// The host agent's link to the server (SPEC §4): trade the credential for a host JWT, dial
// /relay/connect with it in the Authorization header, serve the streams the server opens, and
// stay connected — refresh the JWT in-band before it expires (no reconnect, no dropped stream),
// reconnect with jittered exponential backoff after a failure and at once after GOAWAY.
// The first connection is different: any failure there is final and explained, so that
// `warren host start` can say why instead of retrying in silence.
import { FRAME, json, type Hello } from "./codec";
import { Mux } from "./mux";
import { serveStream } from "./serve-host";
import type { TerminalHost } from "../pty/host";

export interface AgentOptions {
  server: string;
  name: string;
  /** The name was not chosen (the machine's): the server may list it with a suffix when taken. */
  autoName: boolean;
  /** This agent's own id, kept across restarts: a reconnect, not another machine, and a renamed host keeps its row. */
  instance: string;
  version: string;
  /** GET on the server with the agent's credential (the CLI's one HTTP client). */
  request(path: string): Promise<Response>;
  /** Turns a refused response into words (the CLI's describeFailure). */
  describe(r: Response): Promise<string>;
  terminals: TerminalHost;
  exposed: Set<number>;
  log(line: string): void;
  /** Called on every change of connection state, for `warren host status`. */
  onState?(s: AgentState): void;
}

export interface AgentState {
  status: "connecting" | "connected" | "reconnecting" | "stopped";
  hostId?: string;
  /** The name the server lists it under (HELLO). */
  listedAs?: string;
  connectedSince?: string;
  lastError?: string;
}

/** A failure that retrying will not fix (bad credential, replaced by another agent). */
export class AgentError extends Error {
  constructor(
    message: string,
    readonly fatal: boolean,
  ) {
    super(message);
  }
}

/** Closes that reconnecting cannot undo (server/relay/hub.ts CLOSE_HOST), in words. */
const FINAL_CLOSE: Record<number, string> = {
  4409: "another agent registered this host name",
  4410: "an owner or admin removed this host from the organization (start it again to add it back)",
};

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/**
 * After GOAWAY the server is restarting or draining, and every host it held heard it in the same
 * millisecond. Each dial is made at a uniformly random moment of the window the server names
 * (`reconnectWithinMs`, proportional to how many hosts it held; GOAWAY_SPREAD_MS when it names
 * none), or of 100 ms doubling up to 2 s if that is longer: full jitter on every try, not only
 * the first, so hosts that find the server still down do not bunch up at the moment it is back
 * — the arrivals stay spread over the window from then on.
 */
const GOAWAY_SPREAD_MS = 1_000;
const GOAWAY_SPREAD_MAX_MS = 60_000;
const GOAWAY_BASE_MS = 100;
const GOAWAY_MAX_MS = 2_000;
const GOAWAY_FAST_ATTEMPTS = 15;
/**
 * The backoff starts over only after a connection has lasted this long: one the server greets
 * and then drops (a rejection after HELLO, an overloaded or flapping server) does not reset it,
 * or every host would hammer such a server at the first retry's rate forever.
 */
const STABLE_MS = 10_000;
const DIAL_TIMEOUT_MS = 15_000;
/** A token request unanswered this long is a failed dial (it may ride a dead keep-alive connection). */
const TOKEN_TIMEOUT_MS = 10_000;
/**
 * A close we start waits for the server's close frame; on a black-holed path none comes and
 * no close event either. This long after, the connection is given up without it.
 */
const CLOSE_GRACE_MS = 2_000;
/** Refresh the JWT when this fraction of its lifetime is left. */
const REFRESH_AT = 1 / 3;
const REFRESH_RETRY_MS = 5_000;

export class HostAgent {
  private ws: WebSocket | null = null;
  private mux: Mux | null = null;
  private stopped = false;
  private attempt = 0;
  private goaway = false;
  /** The window GOAWAY asked reconnects to be spread over. */
  private spreadMs = GOAWAY_SPREAD_MS;
  /** When the current connection was greeted (0: not connected). */
  private greetedAt = 0;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Closes the current connection, and counts it closed even if the close handshake never ends. */
  private abandon: (code: number, reason: string) => void = () => {};
  private hello: (Hello & { orgId: string }) | null = null;
  private state: AgentState = { status: "connecting" };
  /** Resolves when the agent stops for good (stop(), or a fatal error after the first connect). */
  readonly done: Promise<AgentError | null>;
  private finish!: (e: AgentError | null) => void;

  constructor(private o: AgentOptions) {
    this.done = new Promise((r) => (this.finish = r));
  }

  /** Connects once; resolves when registered, rejects with the reason it could not. */
  async start(): Promise<AgentState> {
    await this.connect();
    return this.state;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.refreshTimer);
    clearTimeout(this.watchdog);
    clearTimeout(this.reconnectTimer);
    this.ws?.close(1000, "host stopping");
    this.mux?.closeAll();
    this.setState({ status: "stopped" });
    this.finish(null);
  }

  /** This host's terminal list changed: the server tells dashboards (nothing is sent while disconnected). */
  changed(): void {
    if (this.hello?.changes && this.ws?.readyState === WebSocket.OPEN) this.mux?.control(FRAME.CHANGED, new Uint8Array(0));
  }

  private setState(s: AgentState): void {
    this.state = s;
    this.o.onState?.(s);
  }

  private async token(): Promise<{ token: string; expiresAt: string }> {
    let r: Response;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // Bounded: a server (or path) that accepts and never answers must not stop the retries.
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from ${this.o.server} in ${TOKEN_TIMEOUT_MS / 1000} s`)), TOKEN_TIMEOUT_MS)));
      r = await Promise.race([this.o.request(`/api/auth/token?host=${encodeURIComponent(this.o.name)}`), late]);
    } catch (e) {
      throw new AgentError((e as Error).message, false);
    } finally {
      clearTimeout(timer);
    }
    if (!r.ok) throw new AgentError(`the server refused this host's credential: ${await this.o.describe(r)}`, r.status === 401 || r.status === 403 || r.status === 400);
    return (await r.json()) as { token: string; expiresAt: string };
  }

  /** One connection attempt: resolves once the server said HELLO. */
  private async connect(): Promise<void> {
    const { token, expiresAt } = await this.token();
    const url = `${this.o.server.replace(/^http/, "ws")}/relay/connect`;
    const headers = {
      authorization: `Bearer ${token}`,
      "x-warren-host-version": this.o.version,
      "x-warren-host-platform": `${process.platform}-${process.arch}`,
      "x-warren-host-ports": [...this.o.exposed].join(","),
      "x-warren-host-instance": this.o.instance,
      "x-warren-host-name": this.o.autoName ? "default" : "chosen",
    };
    const ws = new WebSocket(url, { headers } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.goaway = false;
    const mux = new Mux(
      { send: (f) => ws.send(f), buffered: () => ws.bufferedAmount },
      {
        side: "host",
        onOpen: (s, open) => serveStream({ terminals: this.o.terminals, orgId: () => this.hello?.orgId ?? null, exposed: this.o.exposed }, s, open),
        onControl: (f) => {
          if (f.type === FRAME.HELLO) greeted(json<Hello & { orgId: string }>(f.payload));
          else if (f.type === FRAME.GOAWAY) {
            this.goaway = true;
            const within = json<{ reconnectWithinMs?: unknown }>(f.payload)?.reconnectWithinMs;
            this.spreadMs = typeof within === "number" && within >= 0 ? Math.min(within, GOAWAY_SPREAD_MAX_MS) : GOAWAY_SPREAD_MS;
          }
        },
        onError: (m) => ws.close(4400, m.slice(0, 100)),
      },
    );
    this.mux = mux;
    let greeted!: (h: (Hello & { orgId: string }) | null) => void;
    const hello = new Promise<(Hello & { orgId: string }) | null>((r) => (greeted = r));
    let opened = false;
    let ended!: (e: CloseEvent) => void;
    const closed = new Promise<CloseEvent>((r) => (ws.onclose = ended = r));
    this.abandon = (code, reason) => {
      ws.close(code, reason);
      setTimeout(() => {
        (ws as unknown as { terminate?: () => void }).terminate?.();
        ended({ code, reason, wasClean: false } as CloseEvent);
      }, CLOSE_GRACE_MS).unref?.();
    };
    ws.onopen = () => (opened = true);
    ws.onmessage = (e) => {
      this.armWatchdog();
      mux.receive(new Uint8Array(e.data as ArrayBuffer));
    };
    ws.onerror = () => {};
    const timeout = setTimeout(() => this.abandon(4000, "no HELLO in time"), DIAL_TIMEOUT_MS);
    const first = await Promise.race([hello, closed]);
    clearTimeout(timeout);
    if (!first || first instanceof Event) {
      mux.closeAll();
      throw await this.refusal(first as CloseEvent | null, opened, headers);
    }
    this.hello = first;
    this.greetedAt = Date.now();
    this.setState({ status: "connected", hostId: first.hostId, listedAs: first.name, connectedSince: new Date().toISOString() });
    this.o.log(`connected to ${this.o.server} as ${first.name ?? this.o.name} (host ${first.hostId}, epoch ${first.epoch})`);
    this.scheduleRefresh(expiresAt);
    this.armWatchdog();
    closed.then((e) => this.lost(ws, mux, e));
  }

  /** Why a dial ended before HELLO, in words: ask the same URL over plain HTTP for the refusal. */
  private async refusal(e: CloseEvent | null, opened: boolean, headers: Record<string, string>): Promise<AgentError> {
    if (opened) {
      const final = FINAL_CLOSE[e?.code ?? 0];
      return new AgentError(final ?? `the server closed the relay connection (${e?.code ?? "no greeting"}${e?.reason ? `: ${e.reason}` : ""})`, !!final);
    }
    try {
      const r = await fetch(`${this.o.server}/relay/connect`, {
        headers: { ...headers, connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "d2FycmVuLWhvc3QtcHJvYmU=" },
        signal: AbortSignal.timeout(DIAL_TIMEOUT_MS),
      });
      if (r.status >= 400) return new AgentError(`the relay refused this host: ${await this.o.describe(r)}`, r.status === 401 || r.status === 403 || r.status === 409);
      return new AgentError(`the relay WebSocket could not be opened at ${this.o.server}/relay/connect (HTTP ${r.status}); is a proxy in the way?`, false);
    } catch (err) {
      return new AgentError(`cannot reach warren at ${this.o.server}: ${(err as Error).message}`, false);
    }
  }

  private lost(ws: WebSocket, mux: Mux, e: CloseEvent): void {
    mux.closeAll();
    clearTimeout(this.refreshTimer);
    clearTimeout(this.watchdog);
    if (this.stopped || this.ws !== ws) return;
    const final = FINAL_CLOSE[e.code];
    if (final) {
      this.o.log(`${final}; stopping`);
      this.setState({ status: "stopped", hostId: this.hello?.hostId, lastError: final });
      return this.finish(new AgentError(final, true));
    }
    const now = this.goaway || e.code === 1001;
    this.o.log(now ? "the server is going away; reconnecting" : `connection lost (${e.code}${e.reason ? `: ${e.reason}` : ""}); reconnecting`);
    this.setState({ status: "reconnecting", hostId: this.hello?.hostId, lastError: `connection lost (${e.code})` });
    if (now || Date.now() - this.greetedAt >= STABLE_MS) this.attempt = 0;
    this.greetedAt = 0;
    this.retry(now);
  }

  private retry(soon: boolean): void {
    if (this.stopped) return;
    const delay = soon
      ? Math.random() * Math.max(this.spreadMs, Math.min(GOAWAY_MAX_MS, GOAWAY_BASE_MS * 2 ** this.attempt))
      : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt) * (0.5 + Math.random());
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((err: AgentError) => {
        if (this.stopped) return;
        if (err.fatal) {
          this.o.log(`giving up: ${err.message}`);
          this.setState({ status: "stopped", lastError: err.message });
          return this.finish(err);
        }
        this.o.log(`reconnect failed: ${err.message}`);
        this.setState({ status: "reconnecting", hostId: this.hello?.hostId, lastError: err.message });
        this.retry(soon && this.attempt < GOAWAY_FAST_ATTEMPTS);
      });
    }, delay);
  }

  /** A fresh JWT goes in-band (TOKEN) well before expiry; the connection and its streams stay. */
  private scheduleRefresh(expiresAt: string, inMs = (Date.parse(expiresAt) - Date.now()) * (1 - REFRESH_AT)): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      try {
        const t = await this.token();
        this.mux?.control(FRAME.TOKEN, new TextEncoder().encode(t.token));
        this.scheduleRefresh(t.expiresAt);
      } catch (e) {
        this.o.log(`token refresh failed: ${(e as Error).message}; trying again`);
        // Keep trying while the current token lasts; the server drops us only once it expires.
        if (!this.stopped) this.scheduleRefresh(expiresAt, REFRESH_RETRY_MS);
      }
    }, Math.max(0, inMs));
  }

  /** Silence for three heartbeats means the path is dead even if TCP has not noticed. */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    const every = this.hello?.pingIntervalMs;
    if (!every) return;
    this.watchdog = setTimeout(() => this.abandon(4408, "no heartbeat from the server"), every * 3 + 5_000);
  }
}
