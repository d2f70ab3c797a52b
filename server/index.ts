// server/: the HTTP server and everything it serves.
//   startServer(config)  start a Warren server (data dir, database, HTTP) and stop it gracefully
//   resolveServeConfig   turn `warren serve` flags into a checked config (policy included)
// Inside: db/ (the one Drizzle handle, migrations), http/ (errors, access log, body limits),
// auth/ (the credential resolver, sessions, pairing, orgs), web/ (pages), app.ts (the composed
// Elysia app), health.ts (/healthz).
export { startServer, type RunningServer } from "./serve";
export { resolveServeConfig, ConfigError, DEFAULT_PORT, type ServeConfig, type ServeInput } from "./config";
export { StartupError } from "./datadir";
