// pty/: terminals (SPEC §5) — the PTY backend behind a small interface (Bun's built-in terminal),
// the session ring buffer and the attach protocol codec shared by server, browser and CLI.
// Offers nothing yet: the terminals issue builds it. The folder exists so that the layout of the
// monolith is fixed from the start.
export {};
