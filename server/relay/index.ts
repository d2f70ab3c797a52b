// server/relay: the server's side of the relay (SPEC §4).
//   createRelay(db, log, local, pingMs, events, audit)  the hub of connected hosts and the host directory
//   relayConnect(auth, hub)              /relay/connect, where hosts dial in
//   hostRoutes(auth, directory, apps)    /api/hosts: list, rename, remove
//   portRoutes(auth, directory)          /api/hosts/:id/ports/:port/… to a host's exposed ports
//   Directory                            which hosts a principal sees, and their TerminalHost —
//                                        in-process, through the relay, or via the replica holding it
// The wire format and the multiplexer are shared with the host agent, in relay/ at the top.
import type { Db } from "../db";
import type { Logger } from "../log";
import type { Events } from "../events";
import type { Audit } from "../audit";
import { Directory, type LocalHost } from "./directory";
import { Hub } from "./hub";
import { hostStore } from "./store";

export { relayConnect } from "./connect";
export { hostRoutes, hostPatch } from "./hosts-api";
export { portRoutes } from "./ports";
export { Directory, LOCAL_HOST_ID, type LocalHost, type HostEntry } from "./directory";
export { Hub, CLOSE_HOST } from "./hub";

export function createRelay(db: Db, log: Logger, local: LocalHost, pingMs: number, events: Events, audit: Audit): { hub: Hub; directory: Directory } {
  const store = hostStore(db);
  const hub = new Hub(store, log, pingMs, events, audit);
  return { hub, directory: new Directory(local, hub, store) };
}
