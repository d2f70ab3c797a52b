// Which hosts a principal may see, and how to reach each one's terminals: the built-in local
// host (this machine, the first org's) and remote hosts from the directory table, reached
// through the relay. A host outside the principal's orgs is "not found", exactly like one that
// does not exist (SPEC §2.4 rule 13).
import { hostname } from "node:os";
import { HttpError } from "../http/errors";
import type { Principal } from "../auth";
import { serviceHost, type TerminalHost } from "../../pty/host";
import type { TerminalService } from "../../pty";
import { remoteHost } from "../../relay/remote-host";
import type { Mux } from "../../relay/mux";
import { credentialHeaders, peerHost, wasForwarded } from "./peer";
import type { Hub } from "./hub";
import type { Connecting } from "./hub";
import { VERSION } from "../about";
import type { HostRow, HostStore } from "./store";

export const LOCAL_HOST_ID = "local";
const STARTED = new Date().toISOString();
const PLATFORM = `${process.platform}-${process.arch}`;
/** The server's own host is listed under its machine's name. */
const localName = () => hostname();
/** A row another replica last refreshed longer ago than 3 heartbeats plus this is stale. */
const PEER_SLACK_MS = 5_000;

export interface LocalHost {
  service: TerminalService;
  enabled: boolean;
  /** The org the local host belongs to (read once, after first start created it). */
  orgId: () => Promise<string | null>;
}

export interface HostEntry {
  id: string;
  name: string;
  /** The server's own machine, or a machine that dialled in (`warren host start`). */
  kind: "local" | "remote";
  /** Kept beside `kind` for clients written before it. */
  local: boolean;
  online: boolean;
  /** When its current connection began (the server's start, for the local host); null when never known. */
  connectedSince: string | null;
  lastSeen: string;
  organizationId: string;
  version?: string;
  platform?: string;
  /** The ports it exposes (`warren host start --expose`). */
  ports: number[];
}

export interface FoundHost {
  entry: HostEntry;
  orgId: string;
  terminals: TerminalHost;
  /** A remote host's relay connection, for streams other than terminals (exposed ports). */
  mux?: () => Mux | null;
  /** Set when the host is connected to another replica: that replica's URL (peer.ts). */
  peer?: string;
}

export class Directory {
  private localTerminals: TerminalHost;

  constructor(
    readonly local: LocalHost,
    readonly hub: Hub,
    private store: HostStore,
  ) {
    this.localTerminals = serviceHost(local.service);
  }

  async list(p: Principal): Promise<HostEntry[]> {
    const local = await this.localEntry(p);
    const remote = (await this.store.list(p.orgIds)).map((r) => this.entry(r));
    return local ? [local, ...remote] : remote;
  }

  /**
   * The host by id (or by name in the principal's orgs, the active org first); 404 otherwise.
   * `request` is the client's, for forwarding to the replica that holds the host; `ticket` mints
   * a fresh WebSocket ticket when the client's own was spent getting here.
   */
  async find(p: Principal, idOrName: string, request?: Request, ticket?: () => Promise<string>): Promise<FoundHost> {
    const found = await this.lookup(p, idOrName);
    return "row" in found ? this.reach(found.row, request, ticket) : { entry: found, orgId: found.organizationId, terminals: this.localTerminals };
  }

  /** The host's listing, reachable or not (for rename and remove); 404 as find(). */
  async describe(p: Principal, idOrName: string): Promise<HostEntry> {
    const found = await this.lookup(p, idOrName);
    return "row" in found ? this.entry(found.row) : found;
  }

  private async lookup(p: Principal, idOrName: string): Promise<HostEntry | { row: HostRow }> {
    if (idOrName === LOCAL_HOST_ID) {
      const entry = await this.localEntry(p);
      if (entry) return entry;
    } else {
      const orgs = p.activeOrgId ? [p.activeOrgId, ...p.orgIds.filter((o) => o !== p.activeOrgId)] : p.orgIds;
      const row = await this.store.find(orgs, idOrName);
      if (row && p.roles[row.orgId]) return { row };
    }
    throw new HttpError(404, "not_found", "no such host");
  }

  /**
   * The name a connecting host is listed under (store.claim), with the server's own host's name
   * reserved in its org so the two are never confused; 409 when an explicitly chosen name is
   * another machine's.
   */
  async claim(c: Connecting): Promise<string> {
    const reserved = this.local.enabled && (await this.local.orgId()) === c.orgId ? [localName()] : [];
    const got = await this.store.claim(c.orgId, c.tokenName, c.instance, c.autoName, reserved);
    if ("name" in got) return got.name;
    const whose = got.taken ? `another machine (last seen ${got.taken.lastSeen.toISOString()})` : "the server's own host";
    const fix = got.taken ? `, or remove that one first: warren host rm ${c.tokenName}` : "";
    throw new HttpError(409, "host_name_taken", `the host name "${c.tokenName}" belongs to ${whose} in this organization; choose another with --name${fix}`);
  }

  /** Renames a remote host (the caller is an owner or admin of its org); 409 when the name is taken. */
  async rename(host: HostEntry, name: string): Promise<void> {
    if (host.kind === "local") throw new HttpError(400, "local_host", "the server's own host is named after its machine and cannot be renamed");
    const local = this.local.enabled && (await this.local.orgId()) === host.organizationId;
    if ((local && name === localName()) || !(await this.store.rename(host.organizationId, host.id, name))) {
      throw new HttpError(409, "host_name_taken", `another host in this organization is already called "${name}"`);
    }
    const link = this.hub.link(host.id);
    if (link) link.name = name;
    this.hub.changed(host.organizationId);
  }

  /** Removes a remote host (the caller is an owner or admin of its org); a connected one is disconnected first. */
  async remove(host: HostEntry): Promise<void> {
    if (host.kind === "local") throw new HttpError(400, "local_host", "the server's own host cannot be removed: it is listed while the server offers terminals on its own machine");
    await this.hub.remove(host.organizationId, host.id);
  }

  /** The remote hosts of one organization (the caller checked it may see them). */
  async inOrg(orgId: string): Promise<HostRow[]> {
    return this.store.list([orgId]);
  }

  /** A remote host by id within one organization the caller was authorized for (an app's); 404 otherwise. */
  async byId(orgId: string, hostId: string, request: Request): Promise<FoundHost> {
    const row = await this.store.find([orgId], hostId);
    if (!row || row.id !== hostId) throw new HttpError(404, "not_found", "no such host");
    return this.reach(row, request);
  }

  /** How to reach a remote host: on this process, through the replica holding it, or 503. */
  private reach(row: HostRow, request?: Request, ticket?: () => Promise<string>): FoundHost {
    const entry = this.entry(row);
    if (this.hub.link(row.id)) {
      const mux = () => this.hub.link(row.id)?.mux ?? null;
      return { entry, orgId: row.orgId, terminals: remoteHost(mux, () => this.hub.stopping), mux };
    }
    const peer = this.peerOf(row);
    if (peer && request && !wasForwarded(request)) return { entry, orgId: row.orgId, terminals: peerHost(peer, row.id, credentialHeaders(request), ticket), peer };
    throw new HttpError(503, "host_offline", `host ${row.name} is not connected (last seen ${entry.lastSeen}); start it with: warren host start`);
  }

  private async localEntry(p: Principal): Promise<HostEntry | null> {
    const orgId = this.local.enabled ? await this.local.orgId() : null;
    if (!orgId || !p.roles[orgId]) return null;
    const now = new Date().toISOString();
    return { id: LOCAL_HOST_ID, name: localName(), kind: "local", local: true, online: true, connectedSince: STARTED, lastSeen: now, organizationId: orgId, version: VERSION, platform: PLATFORM, ports: [] };
  }

  /** The replica holding this host, when it is another one and its heartbeats are recent. */
  private peerOf(r: HostRow): string | null {
    const fresh = Date.now() - r.lastSeen.getTime() < this.hub.pingMs * 3 + PEER_SLACK_MS;
    return r.online && r.replica && r.replica !== this.hub.replica && fresh ? r.replica : null;
  }

  private entry(r: HostRow): HostEntry {
    const link = this.hub.link(r.id);
    const online = !!link || !!this.peerOf(r);
    return {
      id: r.id,
      name: r.name,
      kind: "remote",
      local: false,
      online,
      connectedSince: online ? (link?.connectedAt ?? r.connectedAt)?.toISOString() ?? null : null,
      lastSeen: (link ? new Date() : r.lastSeen).toISOString(),
      organizationId: r.orgId,
      version: r.version,
      platform: r.platform,
      ports: parsePorts(r.ports),
    };
  }
}

/** The `ports` column: what a host said it exposes, as numbers (anything else is dropped). */
export function parsePorts(text: string): number[] {
  return text
    .split(",")
    .map(Number)
    .filter((p) => Number.isInteger(p) && p >= 1 && p <= 65535);
}
