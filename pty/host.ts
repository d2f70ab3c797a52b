// What a host offers the terminal routes, whichever machine it is: the server's built-in local
// host calls it in-process, a remote host is reached through the relay (relay/remote-host.ts)
// and answers with this same code on its side (relay/serve-host.ts). So the terminal API behaves
// identically for both. Every call names the caller the server resolved: the host checks the
// org itself, and never sees the client's credential.
import type { ClientMessage } from "./protocol";
import type { Sink } from "./session";
import { TerminalError, type NewTerminal, type TerminalService } from "./service";
import type { TerminalSession } from "./session";

export interface Caller {
  userId: string;
  orgId: string;
}

export interface TerminalInfo {
  id: string;
  cmd: string[];
  cols: number;
  rows: number;
  createdAt: string;
  createdBy: string;
  attached: number;
  offset: number;
  exit: { code: number | null; signal: string | null } | null;
}

export interface AttachOptions {
  writable: boolean;
  since?: number;
  cols?: number;
  rows?: number;
}

/** One client's side of an attach: its input, its control messages, its departure. */
export interface AttachHandle {
  input(bytes: Uint8Array): void;
  control(m: ClientMessage): void;
  detach(): void;
}

export interface TerminalHost {
  list(c: Caller): Promise<TerminalInfo[]>;
  get(c: Caller, tid: string): Promise<TerminalInfo | null>;
  /** Throws TerminalError for a request the host cannot carry out. */
  create(c: Caller, t: NewTerminal): Promise<TerminalInfo>;
  kill(c: Caller, tid: string): Promise<TerminalInfo | null>;
  /** null when there is no such terminal for this caller. */
  attach(c: Caller, tid: string, o: AttachOptions, sink: Sink): Promise<AttachHandle | null>;
}

export function describe(t: TerminalSession): TerminalInfo {
  return { id: t.id, cmd: t.cmd, cols: t.cols, rows: t.rows, createdAt: t.createdAt.toISOString(), createdBy: t.createdBy, attached: t.attached, offset: t.offset, exit: t.exit };
}

/** The terminal host backed by a TerminalService in this process. */
export function serviceHost(service: TerminalService): TerminalHost {
  return {
    list: async (c) => service.list(c.orgId).map(describe),
    async get(c, tid) {
      const t = service.get(c.orgId, tid);
      return t ? describe(t) : null;
    },
    create: async (c, t) => describe(service.create(c.orgId, c.userId, t)),
    async kill(c, tid) {
      const t = service.get(c.orgId, tid);
      if (!t) return null;
      t.kill();
      return describe(t);
    },
    async attach(c, tid, o, sink) {
      const t = service.get(c.orgId, tid);
      if (!t) return null;
      const a = t.attach(sink, o);
      return { input: (bytes) => t.input(a, bytes), control: (m) => t.control(a, m), detach: () => t.detach(a) };
    },
  };
}

export { TerminalError };
