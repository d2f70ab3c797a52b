// Hosts and their terminals over HTTP and WebSocket (SPEC §4 directory, §5 API). Today the one
// host is the server's built-in local host, which belongs to the organization created on first
// start; the relay issue adds remote hosts behind the same routes. The host named in the URL is
// checked against the principal before anything else (not visible → 404), and terminals are
// looked up by (org, id), so another org's terminal is a 404 too.
import { Elysia } from "elysia";
import { hostname } from "node:os";
import { z } from "zod";
import { authenticated, upgradePrincipal, type Auth, type Principal } from "./auth";
import { HttpError } from "./http/errors";
import { TerminalError, protocol, type Attachment, type TerminalService, type TerminalSession } from "../pty";

export const LOCAL_HOST_ID = "local";

export interface Terminals {
  service: TerminalService;
  enabled: boolean;
  /** The org the local host belongs to (read once, after first start created it). */
  orgId: () => Promise<string | null>;
}

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

function describe(t: TerminalSession) {
  return { id: t.id, hostId: LOCAL_HOST_ID, cmd: t.cmd, cols: t.cols, rows: t.rows, createdAt: t.createdAt.toISOString(), createdBy: t.createdBy, attached: t.attached, offset: t.offset, exit: t.exit };
}

/** The org of the host in the URL, when the principal may use that host; 404 otherwise. */
async function hostOrg(term: Terminals, p: Principal, hostId: string): Promise<string> {
  const orgId = term.enabled && hostId === LOCAL_HOST_ID ? await term.orgId() : null;
  if (!orgId || !p.roles[orgId]) throw new HttpError(404, "not_found", "no such host");
  return orgId;
}

function terminalOf(term: Terminals, orgId: string, tid: string): TerminalSession {
  const t = term.service.get(orgId, tid);
  if (!t) throw new HttpError(404, "not_found", "no such terminal");
  return t;
}

const attachments = new WeakMap<Request, { terminal: TerminalSession; writable: boolean; since?: number; cols?: number; rows?: number }>();
const live = new WeakMap<object, Attachment>();

export const terminalRoutes = (auth: Auth, term: Terminals) =>
  new Elysia()
    .ws("/api/hosts/:hostId/terminals/:tid/attach", {
      query: attachQuery,
      async beforeHandle({ request, server, params, query }) {
        // Elysia may run this hook twice for one upgrade; a ticket can be consumed only once.
        if (attachments.has(request)) return;
        const principal = await upgradePrincipal(auth, request, server);
        const terminal = terminalOf(term, await hostOrg(term, principal, params.hostId), params.tid);
        attachments.set(request, { terminal, writable: query.mode === "write", since: query.since, cols: query.cols, rows: query.rows });
      },
      open(ws) {
        const a = attachments.get((ws.data as { request: Request }).request)!;
        const attachment = a.terminal.attach(
          {
            binary: (bytes) => ws.sendBinary(bytes),
            text: (message) => ws.sendText(message),
            close: (code, reason) => ws.close(code, reason),
          },
          a,
        );
        live.set(ws.raw, attachment);
        (ws.data as { terminal?: TerminalSession }).terminal = a.terminal;
      },
      message(ws, message) {
        const attachment = live.get(ws.raw);
        const terminal = (ws.data as { terminal?: TerminalSession }).terminal;
        if (!attachment || !terminal) return;
        if (message instanceof Uint8Array || message instanceof ArrayBuffer || Buffer.isBuffer(message)) {
          terminal.input(attachment, message instanceof ArrayBuffer ? new Uint8Array(message) : (message as Uint8Array));
          return;
        }
        const control = protocol.parseClient(typeof message === "string" ? message : JSON.stringify(message));
        if (!control) return ws.close(protocol.CLOSE.PROTOCOL, "unknown control message");
        terminal.control(attachment, control);
      },
      close(ws) {
        const attachment = live.get(ws.raw);
        const terminal = (ws.data as { terminal?: TerminalSession }).terminal;
        if (attachment && terminal) terminal.detach(attachment);
      },
      // Terminal bytes are mostly incompressible or tiny; compression would cost more than it saves.
      perMessageDeflate: false,
    })
    .use(authenticated(auth))
    .get("/api/hosts", async ({ principal }) => {
      const orgId = term.enabled ? await term.orgId() : null;
      const local = orgId && principal.roles[orgId];
      return { hosts: local ? [{ id: LOCAL_HOST_ID, name: hostname(), local: true, online: true, lastSeen: new Date().toISOString(), organizationId: orgId }] : [] };
    })
    .get("/api/hosts/:hostId/terminals", async ({ principal, params }) => {
      const orgId = await hostOrg(term, principal, params.hostId);
      return { terminals: term.service.list(orgId).map(describe) };
    })
    .post(
      "/api/hosts/:hostId/terminals",
      async ({ principal, params, body, set }) => {
        const orgId = await hostOrg(term, principal, params.hostId);
        try {
          const t = term.service.create(orgId, principal.userId, body);
          set.status = 201;
          return describe(t);
        } catch (e) {
          if (e instanceof TerminalError) throw new HttpError(e.status, e.code, e.message);
          throw e;
        }
      },
      { body: newTerminal },
    )
    .delete("/api/hosts/:hostId/terminals/:tid", async ({ principal, params, set }) => {
      const t = terminalOf(term, await hostOrg(term, principal, params.hostId), params.tid);
      t.kill();
      set.status = 202;
      return describe(t);
    });
