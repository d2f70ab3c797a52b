// The PTY backend, behind a small interface so that another one (node-pty for Windows, once it
// works under Bun) can be added without touching the terminal service. Today: Bun's built-in
// terminal (`Bun.spawn(cmd, { terminal })`), POSIX only — no native module to ship.

export interface PtyExit {
  code: number | null;
  signal: string | null;
}

export interface PtyProcess {
  pid: number;
  write(data: Uint8Array | string): void;
  resize(cols: number, rows: number): void;
  signal(signal: "SIGHUP" | "SIGKILL" | "SIGTERM"): void;
  /**
   * Stops the program's output where it is (its next write blocks), as a terminal's XOFF does;
   * false when that cannot be done now (the program turned software flow control off, as
   * full-screen programs in raw mode do — the kernel then restarts output by itself).
   */
  pause(): boolean;
  /** Lets a paused program write again. */
  resume(): void;
  /** Resolves once the process has exited AND its last output has been delivered to onData. */
  exited: Promise<PtyExit>;
}

export interface SpawnOptions {
  cmd: string[];
  cwd: string;
  env: Record<string, string>;
  cols: number;
  rows: number;
  onData(chunk: Uint8Array): void;
}

export interface PtyBackend {
  name: string;
  /** Why terminals cannot run here, or null when they can. */
  unavailable: string | null;
  spawn(o: SpawnOptions): PtyProcess;
}

/** termios c_iflag IXON: the line discipline obeys XOFF/XON typed at the terminal. */
const IXON = process.platform === "darwin" ? 0x200 : 0o2000;
const XOFF = "\x13";
const XON = "\x11";

/** After exit, how long to wait for the PTY's EOF (a background grandchild may hold it open). */
const EOF_GRACE_MS = 250;

export const bunTerminal: PtyBackend = {
  name: "bun-terminal",
  unavailable: process.platform === "win32" ? "terminals need a PTY, and Bun's terminal support is POSIX-only (no Windows yet)" : null,
  spawn(o) {
    let eof!: () => void;
    const drained = new Promise<void>((r) => (eof = r));
    const proc = Bun.spawn(o.cmd, {
      cwd: o.cwd,
      env: o.env,
      terminal: {
        cols: o.cols,
        rows: o.rows,
        name: o.env.TERM ?? "xterm-256color",
        data: (_t, chunk) => o.onData(chunk),
        exit: () => eof(),
      },
    });
    const terminal = proc.terminal!;
    // Every byte the program wrote reaches onData before exited resolves (ttyd gets this wrong).
    const exited = proc.exited.then(async (code) => {
      await Promise.race([drained, Bun.sleep(EOF_GRACE_MS)]);
      terminal.close();
      const signal = proc.signalCode === null ? null : String(proc.signalCode);
      return { code: signal ? null : code, signal };
    });
    return {
      pid: proc.pid,
      write: (data) => {
        if (!terminal.closed) terminal.write(data);
      },
      resize: (cols, rows) => {
        if (!terminal.closed) terminal.resize(cols, rows);
      },
      signal: (s) => proc.kill(s),
      // Bun's terminal cannot stop reading the PTY; the line discipline can stop the program
      // writing to it. XOFF and XON are consumed by the kernel while IXON is on, never read by
      // the program; with IXON off they would be input, so nothing is sent then.
      pause: () => {
        if (terminal.closed || (terminal.inputFlags & IXON) === 0) return false;
        terminal.write(XOFF);
        return true;
      },
      resume: () => {
        if (!terminal.closed && (terminal.inputFlags & IXON) !== 0) terminal.write(XON);
      },
      exited,
    };
  },
};
