// Several replicas on one database (SPEC §4): a host is connected to one of them, and the
// directory row says which (`replica` = the URL other replicas reach it by, `lastSeen` kept fresh
// by heartbeats). A replica asked about a host connected elsewhere forwards the client's request
// to that replica's own public routes, with the client's own credential: the owner replica
// authorizes it again through its resolver, so no replica-to-replica secret exists and no hop
// trusts another's decision. One hop only: a forwarded request is never forwarded again.
import { encode as encodeTerm } from "../../pty/protocol";
import { CLOSE } from "../../pty/protocol";
import { TerminalError, type TerminalHost, type TerminalInfo } from "../../pty/host";

export const FORWARDED = "x-warren-forwarded";
/** What travels to the owner replica: the client's credential, nothing else of its request. */
const CREDENTIAL_HEADERS = ["authorization", "x-api-key", "cookie", "origin", "x-warren-org"];

export const wasForwarded = (request: Request) => request.headers.has(FORWARDED);

export function credentialHeaders(request: Request): Record<string, string> {
  const h: Record<string, string> = { [FORWARDED]: "1" };
  for (const k of CREDENTIAL_HEADERS) {
    const v = request.headers.get(k);
    if (v !== null) h[k] = v;
  }
  return h;
}

async function failure(r: Response): Promise<TerminalError> {
  const body = (await r.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  return new TerminalError(r.status, body.error?.code ?? "replica_error", body.error?.message ?? `the replica holding this host answered ${r.status}`);
}

/** A host connected to another replica, reached through that replica's terminal API. */
export function peerHost(base: string, hostId: string, headers: Record<string, string>, ticket?: () => Promise<string>): TerminalHost {
  const at = `${base}/api/hosts/${encodeURIComponent(hostId)}/terminals`;
  const call = async (method: string, url: string, body?: unknown): Promise<Response> => {
    try {
      return await fetch(url, { method, headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new TerminalError(502, "replica_unreachable", "the replica holding this host cannot be reached");
    }
  };
  const list = async (): Promise<TerminalInfo[]> => {
    const r = await call("GET", at);
    if (!r.ok) throw await failure(r);
    return ((await r.json()) as { terminals: TerminalInfo[] }).terminals;
  };
  return {
    list: () => list(),
    get: async (_c, tid) => (await list()).find((t) => t.id === tid) ?? null,
    async create(_c, t) {
      const r = await call("POST", at, t);
      if (!r.ok) throw await failure(r);
      return (await r.json()) as TerminalInfo;
    },
    async kill(_c, tid) {
      const r = await call("DELETE", `${at}/${encodeURIComponent(tid)}`);
      if (r.status === 404) return null;
      if (!r.ok) throw await failure(r);
      return (await r.json()) as TerminalInfo;
    },
    async attach(_c, tid, o, sink) {
      const q = new URLSearchParams({ mode: o.writable ? "write" : "view" });
      if (o.since !== undefined) q.set("since", String(o.since));
      if (o.cols && o.rows) q.set("cols", String(o.cols)), q.set("rows", String(o.rows));
      if (ticket) q.set("ticket", await ticket());
      const ws = new WebSocket(`${at.replace(/^http/, "ws")}/${encodeURIComponent(tid)}/attach?${q}`, { headers } as unknown as string[]);
      ws.binaryType = "arraybuffer";
      let opened = false;
      ws.onopen = () => (opened = true);
      ws.onmessage = (e) => (typeof e.data === "string" ? sink.text(e.data) : sink.binary(new Uint8Array(e.data as ArrayBuffer)));
      ws.onclose = (e) => sink.close(opened ? e.code : CLOSE.HOST_GONE, opened ? e.reason : "the replica holding this host refused the attach");
      ws.onerror = () => {};
      const whenOpen = new Promise<void>((r) => ws.addEventListener("open", () => r(), { once: true }));
      const send = (data: string | Uint8Array) => void whenOpen.then(() => ws.readyState === WebSocket.OPEN && ws.send(data));
      return { input: (bytes) => send(bytes), control: (m) => send(encodeTerm(m)), detach: () => ws.close(1000, "detached") };
    },
  };
}

/** An exposed-port request, passed whole to the replica holding the host, with `extra` headers. */
export async function forwardHttp(base: string, request: Request, extra: Record<string, string> = {}): Promise<Response> {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  headers.set(FORWARDED, "1");
  headers.delete("host");
  for (const [k, v] of Object.entries(extra)) headers.set(k, v);
  try {
    const r = await fetch(`${base}${url.pathname}${url.search}`, { method: request.method, headers, body: request.body, redirect: "manual", decompress: false, duplex: "half" } as RequestInit);
    return new Response(r.body, { status: r.status, headers: r.headers });
  } catch {
    return Response.json({ error: { code: "replica_unreachable", message: "the replica holding this host cannot be reached" } }, { status: 502 });
  }
}
