// /relay/connect (SPEC §4): where hosts dial in. Only a host JWT passes (minted by
// GET /api/auth/token?host=<name>, sent as Authorization: Bearer — never in the URL), checked by
// the one credential resolver; the host registers in the JWT's one organization under the name
// the JWT carries. A refused dial gets the JSON error and no handshake, so the host can say why.
import { Elysia } from "elysia";
import type { ServerWebSocket } from "bun";
import { HttpError } from "../http/errors";
import { clientOf, requestIp, type Auth } from "../auth/authn";
import { parsePorts } from "./directory";
import { CLOSE_HOST, type Connecting, type Hub, type HostLink } from "./hub";
import type { Directory } from "./directory";

const pending = new WeakMap<Request, Connecting>();
const links = new WeakMap<object, Promise<HostLink>>();
/** Once registered, frames go straight to the link (earlier ones wait on the promise, in order). */
const ready = new WeakMap<object, HostLink>();
const META = /^[\x20-\x7e]{1,100}$/;
/** An agent's instance id: what `warren host start` generates (hex), with room for other agents. */
const INSTANCE = /^[A-Za-z0-9_-]{16,64}$/;
/** More exposed ports than anyone lists on a dashboard; the rest are not shown. */
const MAX_PORTS = 64;

/** Resolves a host's credential (the resolver, as for any request) into who is connecting. */
async function hostOf(auth: Auth, request: Request, ip: () => string, client: Connecting["client"]): Promise<Connecting> {
  const token = /^Bearer[ ]+(\S+)/i.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
  const r = await auth.resolver.resolve(request, ip);
  if (!r) throw new HttpError(401, "unauthorized", "a host connects with Authorization: Bearer <host JWT> (from GET /api/auth/token?host=<name>)");
  const p = r.principal;
  if (p.method !== "jwt" || !p.host || !p.activeOrgId) {
    throw new HttpError(403, "host_token_required", "only a host JWT may connect to the relay (GET /api/auth/token?host=<name>)");
  }
  const header = (name: string) => {
    const v = request.headers.get(name);
    return v && META.test(v) ? v : "unknown";
  };
  const ports = parsePorts(request.headers.get("x-warren-host-ports")?.slice(0, 1000) ?? "").slice(0, MAX_PORTS);
  const instance = request.headers.get("x-warren-host-instance");
  return {
    orgId: p.activeOrgId,
    name: p.host.name,
    tokenName: p.host.name,
    instance: instance && INSTANCE.test(instance) ? instance : null,
    autoName: request.headers.get("x-warren-host-name") === "default",
    userId: p.userId, version: header("x-warren-host-version"), platform: header("x-warren-host-platform"), ports: ports.join(","), expiresAt: p.host.expiresAt, token, client };
}

export const relayConnect = (auth: Auth, hub: Hub, directory: Directory) => {
  // A TOKEN frame: the host's refreshed JWT, checked like any credential, for the same host.
  const check = async (link: Pick<HostLink, "tokenName" | "orgId" | "userId" | "client">, token: string): Promise<Connecting> => {
    const request = new Request("http://relay/token", { headers: { authorization: `Bearer ${token}` } });
    const c = await hostOf(auth, request, () => "relay", link.client);
    if (c.tokenName !== link.tokenName || c.orgId !== link.orgId || c.userId !== link.userId) throw new Error("the token names another host");
    return c;
  };
  hub.onToken = (link, token) => {
    check(link, token)
      .then((c) => hub.refreshed(link, token, c.expiresAt))
      .catch(() => link.close(CLOSE_HOST.EXPIRED, "the refreshed token was refused"));
  };
  // Only a clear refusal (401/403) ends a link; a database hiccup does not.
  hub.stillValid = (link) =>
    check(link, link.token).then(
      () => true,
      (e) => !(e instanceof HttpError) && !(e instanceof Error && e.message.startsWith("the token names")),
    );
  return new Elysia().ws("/relay/connect", {
    async beforeHandle({ request, server }) {
      if (pending.has(request)) return; // Elysia may run this hook twice for one upgrade
      const c = await hostOf(auth, request, () => requestIp(auth, request, server), clientOf(auth, request, server));
      c.name = await directory.claim(c);
      pending.set(request, c);
    },
    open(ws) {
      const raw = ws.raw as unknown as ServerWebSocket<unknown>;
      const c = pending.get((ws.data as { request: Request }).request)!;
      const link = hub.connect(
        c,
        { send: (f) => void raw.sendBinary(f), buffered: () => raw.getBufferedAmount() },
        (code, reason) => raw.close(code, reason),
      );
      link.then((l) => ready.set(ws.raw, l), () => raw.close(1011, "registration failed"));
      links.set(ws.raw, link);
    },
    message(ws, message) {
      const bytes = message instanceof ArrayBuffer ? new Uint8Array(message) : message instanceof Uint8Array ? message : null;
      if (!bytes) return ws.close(CLOSE_HOST.PROTOCOL, "relay frames are binary");
      const l = ready.get(ws.raw);
      if (l) l.mux.receive(bytes);
      else links.get(ws.raw)?.then((l) => l.mux.receive(bytes));
    },
    drain(ws) {
      links.get(ws.raw)?.then((l) => l.mux.drained());
    },
    close(ws, code) {
      links.get(ws.raw)?.then((l) => hub.disconnected(l, code), () => {});
    },
  });
};
