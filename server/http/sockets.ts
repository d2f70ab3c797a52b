// WebSockets upgraded by hand. Bun has one websocket handler per server; Elysia's forwards each
// event to the handlers in the socket's `data`, so a route can upgrade with its own handlers and
// skip Elysia's ws() wrapper — which JSON.parses every text frame before a handler sees it.
import type { ServerWebSocket } from "bun";

export interface SocketHandlers {
  open(ws: ServerWebSocket<unknown>): void;
  message(ws: ServerWebSocket<unknown>, m: string | Buffer): void;
  drain(ws: ServerWebSocket<unknown>): void;
  close(ws: ServerWebSocket<unknown>, code: number, reason: string): void;
}

export const isUpgrade = (request: Request) => request.headers.get("upgrade")?.toLowerCase() === "websocket";

/** Close codes a server may send (not 1005/1006/1015, which mean "none", "abnormal", "TLS"). */
export const sendableClose = (code: number) => code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
