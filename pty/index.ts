// pty/: terminals (SPEC §5).
//   bunTerminal, PtyBackend          the PTY backend (Bun's built-in terminal) behind an interface
//   TerminalService, TerminalSession  sessions: output ring, attached clients, flow control, exit
//   protocol (encode, parseClient, parseServer, CLOSE)  the attach codec shared by server, CLI, browser
export { bunTerminal, type PtyBackend } from "./backend";
export { TerminalService, TerminalError, DEFAULTS, type NewTerminal, type ServiceOptions } from "./service";
export { TerminalSession, Attachment, type Sink } from "./session";
export * as protocol from "./protocol";
