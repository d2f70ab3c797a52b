// Hosts and their terminals over HTTP and WebSocket (SPEC §4 directory, §5 API), the same routes
// for the built-in local host and for remote hosts behind the relay: both are a TerminalHost
// (pty/host.ts) found through the directory. The host named in the URL is checked against the
// principal before anything else (not visible → 404), and terminals are looked up by (org, id),
// so another org's terminal is a 404 too.
import { Elysia } from "elysia";
import type { ServerWebSocket } from "bun";
import { z } from "zod";
import { authenticated, mintTicket, upgradePrincipal, type Auth } from "./auth";
import { HttpError } from "./http/errors";
import { valid } from "./http/json";
import { TerminalError, protocol } from "../pty";
import type { AttachHandle, Caller, TerminalHost, TerminalInfo } from "../pty/host";
import type { Directory } from "./relay/directory";

export { LOCAL_HOST_ID } from "./relay/directory";

const newTerminal = z.object({
  cmd: z.array(z.string().min(1).max(4096)).min(1).max(64).optional(),
  cwd: z.string().startsWith("/", "cwd must be an absolute path").max(4096).optional(),
  cols: z.number().int().min(1).max(protocol.LIMITS.maxCols).default(80),
  rows: z.number().int().min(1).max(protocol.LIMITS.maxRows).default(24),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "environment names are letters, digits and _"), z.string().max(4096))
    .refine((e) => Object.keys(e).length <= 64, "at most 64 environment variables")
    .optional(),
});

const attachQuery = z.object({
  cols: z.coerce.number().int().min(1).max(protocol.LIMITS.maxCols).optional(),
  rows: z.coerce.number().int().min(1).max(protocol.LIMITS.maxRows).optional(),
  since: z.coerce.number().int().min(0).optional(),
  mode: z.enum(["view", "write"]).default("write"),
  ticket: z.string().optional(),
});

const described = (hostId: string, t: TerminalInfo) => ({ ...t, hostId });

/** A host's call failed in words the client should hear (400 bad cwd, 501 no PTY, 503 offline…). */
async function hostCall<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof TerminalError) throw new HttpError(e.status, e.code, e.message);
    throw e;
  }
}

const notFound = () => new HttpError(404, "not_found", "no such terminal");

interface PendingAttach {
  terminals: TerminalHost;
  caller: Caller;
  tid: string;
  writable: boolean;
  since?: number;
  cols?: number;
  rows?: number;
}

const attachments = new WeakMap<Request, PendingAttach>();
/** Per client socket: its attach (once the host answered), and client messages that came first. */
const live = new WeakMap<object, { handle?: AttachHandle; early: (string | Uint8Array)[]; closed: boolean; drained?: () => void }>();

/** Above this much unsent data on a client socket, a relayed attach stops reading from the host. */
const CLIENT_HIGH_WATER = 1024 * 1024;

export const terminalRoutes = (auth: Auth, hosts: Directory) =>
  new Elysia()
    .ws("/api/hosts/:hostId/terminals/:tid/attach", {
      query: attachQuery,
      async beforeHandle({ request, server, params, query }) {
        // Elysia may run this hook twice for one upgrade; a ticket can be consumed only once.
        if (attachments.has(request)) return;
        const principal = await upgradePrincipal(auth, request, server);
        const viaTicket = query.ticket !== undefined && principal.sessionId !== undefined;
        const host = await hosts.find(principal, params.hostId, request, viaTicket ? async () => (await mintTicket(auth, principal.sessionId!)).ticket : undefined);
        const caller = { userId: principal.userId, orgId: host.orgId };
        // Through another replica the attach itself is the check (it closes 4404 there): a
        // ticket-authenticated client has no credential to ask anything else with.
        if (!host.peer && !(await hostCall(() => host.terminals.get(caller, params.tid)))) throw notFound();
        attachments.set(request, { terminals: host.terminals, caller, tid: params.tid, writable: query.mode === "write", since: query.since, cols: query.cols, rows: query.rows });
      },
      open(ws) {
        const a = attachments.get((ws.data as { request: Request }).request)!;
        const raw = ws.raw as unknown as ServerWebSocket<unknown>;
        const state: { handle?: AttachHandle; early: (string | Uint8Array)[]; closed: boolean; drained?: () => void } = { early: [], closed: false };
        live.set(ws.raw, state);
        const sink = {
          binary: (bytes: Uint8Array) => void raw.sendBinary(bytes),
          text: (message: string) => void raw.sendText(message),
          close: (code: number, reason: string) => raw.close(code, reason),
          whenWritable: () =>
            raw.getBufferedAmount() < CLIENT_HIGH_WATER || state.closed ? undefined : new Promise<void>((r) => (state.drained = r)),
        };
        a.terminals
          .attach(a.caller, a.tid, a, sink)
          .then((handle) => {
            if (!handle) return raw.close(4404, "no such terminal");
            if (state.closed) return handle.detach();
            state.handle = handle;
            for (const m of state.early.splice(0)) deliver(ws, m);
          })
          .catch((e) => raw.close(protocol.CLOSE.HOST_GONE, e instanceof TerminalError ? e.message.slice(0, 120) : "the host did not answer"));
      },
      message(ws, message) {
        const m = message instanceof Uint8Array || message instanceof ArrayBuffer || Buffer.isBuffer(message) ? (message instanceof ArrayBuffer ? new Uint8Array(message) : (message as Uint8Array)) : typeof message === "string" ? message : JSON.stringify(message);
        const state = live.get(ws.raw);
        if (!state) return;
        if (!state.handle) state.early.push(m);
        else deliver(ws, m);
      },
      drain(ws) {
        const state = live.get(ws.raw);
        const d = state?.drained;
        if (state && d) {
          state.drained = undefined;
          d();
        }
      },
      close(ws) {
        const state = live.get(ws.raw);
        if (!state) return;
        state.closed = true;
        state.drained?.();
        state.handle?.detach();
      },
      // Terminal bytes are mostly incompressible or tiny; compression would cost more than it saves.
      perMessageDeflate: false,
    })
    .use(authenticated(auth))
    .get("/api/hosts", async ({ principal }) => ({ hosts: await hosts.list(principal) }))
    .get("/api/hosts/:hostId/terminals", async ({ principal, params, request }) => {
      const host = await hosts.find(principal, params.hostId, request);
      const list = await hostCall(() => host.terminals.list({ userId: principal.userId, orgId: host.orgId }));
      return { terminals: list.map((t) => described(host.entry.id, t)) };
    })
    .post(
      "/api/hosts/:hostId/terminals",
      async ({ principal, params, body: raw, set, request }) => {
        const body = valid(newTerminal, raw);
        const host = await hosts.find(principal, params.hostId, request);
        const t = await hostCall(() => host.terminals.create({ userId: principal.userId, orgId: host.orgId }, body));
        set.status = 201;
        return described(host.entry.id, t);
      },
    )
    .delete("/api/hosts/:hostId/terminals/:tid", async ({ principal, params, set, request }) => {
      const host = await hosts.find(principal, params.hostId, request);
      const t = await hostCall(() => host.terminals.kill({ userId: principal.userId, orgId: host.orgId }, params.tid));
      if (!t) throw notFound();
      set.status = 202;
      return described(host.entry.id, t);
    });

function deliver(ws: { raw: object; close(code: number, reason: string): void }, m: string | Uint8Array): void {
  const handle = live.get(ws.raw)!.handle!;
  if (typeof m !== "string") return handle.input(m);
  const control = protocol.parseClient(m);
  if (!control) return ws.close(protocol.CLOSE.PROTOCOL, "unknown control message");
  handle.control(control);
}
