// The terminal service of one host (the server's built-in local host today; `warren host` runs
// the same code): create, list, find and kill sessions. Every lookup takes the org id the caller
// was authorized for, so one org's terminal is invisible to another (SPEC §2.4 rule 13).
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import type { PtyBackend } from "./backend";
import { TerminalSession, type SessionMeter } from "./session";

export interface ServiceOptions {
  ringBytes: number;
  windowBytes: number;
  idleMs: number;
  /** See SessionOptions.stallMs. */
  stallMs: number;
  meter?: SessionMeter;
  /** An org's terminal list changed: created, attached or left, exited, gone. */
  onChange?(orgId: string): void;
}

export interface NewTerminal {
  cmd?: string[];
  cwd?: string;
  env?: Record<string, string>;
  cols: number;
  rows: number;
}

/** A request the service cannot carry out, worded for the caller (the server answers 4xx/501). */
export class TerminalError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULTS: ServiceOptions = { ringBytes: 1024 * 1024, windowBytes: 1024 * 1024, idleMs: 3_600_000, stallMs: 30_000 };

export class TerminalService {
  private sessions = new Map<string, TerminalSession>();

  constructor(
    private backend: PtyBackend,
    private o: ServiceOptions = DEFAULTS,
  ) {}

  create(orgId: string, userId: string, t: NewTerminal): TerminalSession {
    if (this.backend.unavailable) throw new TerminalError(501, "no_pty", this.backend.unavailable);
    const cwd = t.cwd ?? homedir();
    if (!existsSync(cwd) || !statSync(cwd).isDirectory()) throw new TerminalError(400, "invalid_request", `cwd: ${cwd} is not a directory on this host`);
    const session = new TerminalSession(this.backend, {
      id: `term_${randomBytes(16).toString("base64url")}`,
      orgId,
      createdBy: userId,
      cmd: t.cmd?.length ? t.cmd : [process.env.SHELL || "/bin/sh"],
      cwd,
      env: { ...baseEnv(), ...t.env, TERM: t.env?.TERM ?? "xterm-256color" },
      cols: t.cols,
      rows: t.rows,
      ...this.o,
      onGone: (id) => {
        this.sessions.delete(id);
        this.o.onChange?.(orgId);
      },
    });
    this.sessions.set(session.id, session);
    this.o.onChange?.(orgId);
    return session;
  }

  /** Every session of every org: for the server's own metrics, never for a caller. */
  all(): Iterable<TerminalSession> {
    return this.sessions.values();
  }

  list(orgId: string): TerminalSession[] {
    return [...this.sessions.values()].filter((s) => s.orgId === orgId);
  }

  get(orgId: string, id: string): TerminalSession | undefined {
    const s = this.sessions.get(id);
    return s?.orgId === orgId ? s : undefined;
  }

  shutdown(): void {
    for (const s of this.sessions.values()) s.shutdown();
  }
}

/** The host's environment minus Warren's own settings, which may hold credentials. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("WARREN_")) env[k] = v;
  return env;
}
