// Hosts and their terminals over HTTP and WebSocket (SPEC §4 directory, §5 API), the same routes
// for the built-in local host and for remote hosts behind the relay: both are a TerminalHost
// (pty/host.ts) found through the directory. The host named in the URL is checked against the
// principal before anything else (not visible → 404), and terminals are looked up by (org, id),
// so another org's terminal is a 404 too.
import { Elysia } from "elysia";
import type { ServerWebSocket } from "bun";
import { z } from "zod";
import { authenticated, mintTicket, upgradePrincipal, type Auth } from "./auth";
import { clientOf } from "./auth/authn";
import { by } from "./audit";
import { HttpError } from "./http/errors";
import { valid } from "./http/json";
import { isUpgrade, type SocketHandlers } from "./http/sockets";
import { TerminalError, protocol } from "../pty";
import type { AttachHandle, Caller, TerminalHost, TerminalInfo } from "../pty/host";
import type { Directory } from "./relay/directory";

export { LOCAL_HOST_ID } from "./relay/directory";

export const newTerminal = z.object({
  cmd: z.array(z.string().min(1).max(4096)).min(1).max(64).optional(),
  cwd: z.string().startsWith("/", "cwd must be an absolute path").max(4096).optional(),
  cols: z.number().int().min(1).max(protocol.LIMITS.maxCols).default(80),
  rows: z.number().int().min(1).max(protocol.LIMITS.maxRows).default(24),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "environment names are letters, digits and _"), z.string().max(4096))
    .refine((e) => Object.keys(e).length <= 64, "at most 64 environment variables")
    .optional(),
});

export const attachQuery = z.object({
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

/** Above this much unsent data on a client socket, a relayed attach stops reading from the host. */
const CLIENT_HIGH_WATER = 1024 * 1024;

/**
 * One client's socket, attached to a terminal: the host's output goes out as it comes (a relayed
 * host waits while the client is more than CLIENT_HIGH_WATER behind), and the client's frames go
 * in — bytes as input, text only as a term.v1 control message (anything else closes 4400).
 * Upgraded by hand, not through Elysia's ws(): that would JSON.parse every text frame first.
 */
function attachSocket(a: PendingAttach): SocketHandlers {
  let handle: AttachHandle | undefined;
  let closed = false;
  let drained: (() => void) | undefined;
  const early: (string | Uint8Array)[] = [];
  const deliver = (ws: ServerWebSocket<unknown>, m: string | Uint8Array) => {
    if (typeof m !== "string") return handle!.input(m);
    const control = protocol.parseClient(m);
    if (!control) return ws.close(protocol.CLOSE.PROTOCOL, "unknown control message");
    handle!.control(control);
  };
  return {
    open(ws) {
      const sink = {
        binary: (bytes: Uint8Array) => void ws.sendBinary(bytes),
        text: (message: string) => void ws.sendText(message),
        close: (code: number, reason: string) => ws.close(code, reason),
        whenWritable: () => (ws.getBufferedAmount() < CLIENT_HIGH_WATER || closed ? undefined : new Promise<void>((r) => (drained = r))),
      };
      a.terminals
        .attach(a.caller, a.tid, a, sink)
        .then((h) => {
          if (!h) return ws.close(4404, "no such terminal");
          if (closed) return h.detach();
          handle = h;
          for (const m of early.splice(0)) deliver(ws, m);
        })
        .catch((e) => ws.close(protocol.CLOSE.HOST_GONE, e instanceof TerminalError ? e.message.slice(0, 120) : "the host did not answer"));
    },
    message(ws, message) {
      const m = typeof message === "string" ? message : new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
      if (closed) return;
      if (!handle) early.push(m);
      else deliver(ws, m);
    },
    drain() {
      const d = drained;
      drained = undefined;
      d?.();
    },
    close() {
      closed = true;
      drained?.();
      handle?.detach();
    },
  };
}

export const terminalRoutes = (auth: Auth, hosts: Directory) =>
  new Elysia()
    .get("/api/hosts/:hostId/terminals/:tid/attach", async ({ request, server, params, query }) => {
      if (!isUpgrade(request)) throw new HttpError(426, "upgrade_required", "this endpoint speaks WebSocket: connect with a WebSocket client", { upgrade: "websocket" });
      const q = valid(attachQuery, query);
      const principal = await upgradePrincipal(auth, request, server);
      const viaTicket = q.ticket !== undefined && principal.sessionId !== undefined;
      const host = await hosts.find(principal, params.hostId, request, viaTicket ? async () => (await mintTicket(auth, principal.sessionId!)).ticket : undefined);
      const caller = { userId: principal.userId, orgId: host.orgId };
      // Through another replica the attach itself is the check (it closes 4404 there): a
      // ticket-authenticated client has no credential to ask anything else with.
      if (!host.peer && !(await hostCall(() => host.terminals.get(caller, params.tid)))) throw notFound();
      const data = attachSocket({ terminals: host.terminals, caller, tid: params.tid, writable: q.mode === "write", since: q.since, cols: q.cols, rows: q.rows });
      if (!server?.upgrade(request, { data })) throw new HttpError(400, "invalid_request", "this is not a valid WebSocket upgrade");
      auth.audit.record({ action: "terminal.attach", actor: by(principal), org: host.orgId, target: { type: "terminal", id: params.tid, label: host.entry.name }, detail: { host: host.entry.id, mode: q.mode }, client: clientOf(auth, request, server) });
      return new Response(null, { status: 101 });
    })
    .use(authenticated(auth))
    .get("/api/hosts/:hostId/terminals", async ({ principal, params, request }) => {
      const host = await hosts.find(principal, params.hostId, request);
      const list = await hostCall(() => host.terminals.list({ userId: principal.userId, orgId: host.orgId }));
      return { terminals: list.map((t) => described(host.entry.id, t)) };
    })
    .post(
      "/api/hosts/:hostId/terminals",
      async ({ principal, params, body: raw, set, request, server }) => {
        const body = valid(newTerminal, raw);
        const host = await hosts.find(principal, params.hostId, request);
        const t = await hostCall(() => host.terminals.create({ userId: principal.userId, orgId: host.orgId }, body));
        auth.audit.record({ action: "terminal.create", actor: by(principal), org: host.orgId, target: { type: "terminal", id: t.id, label: host.entry.name }, detail: { host: host.entry.id }, client: clientOf(auth, request, server) });
        set.status = 201;
        return described(host.entry.id, t);
      },
    )
    .delete("/api/hosts/:hostId/terminals/:tid", async ({ principal, params, set, request, server }) => {
      const host = await hosts.find(principal, params.hostId, request);
      const t = await hostCall(() => host.terminals.kill({ userId: principal.userId, orgId: host.orgId }, params.tid));
      if (!t) throw notFound();
      auth.audit.record({ action: "terminal.kill", actor: by(principal), org: host.orgId, target: { type: "terminal", id: params.tid, label: host.entry.name }, detail: { host: host.entry.id }, client: clientOf(auth, request, server) });
      set.status = 202;
      return described(host.entry.id, t);
    });
