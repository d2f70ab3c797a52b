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
import type { HostRow, HostStore } from "./store";

export const LOCAL_HOST_ID = "local";
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
  local: boolean;
  online: boolean;
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
    if (idOrName === LOCAL_HOST_ID) {
      const entry = await this.localEntry(p);
      if (entry) return { entry, orgId: entry.organizationId, terminals: this.localTerminals };
    } else {
      const orgs = p.activeOrgId ? [p.activeOrgId, ...p.orgIds.filter((o) => o !== p.activeOrgId)] : p.orgIds;
      const row = await this.store.find(orgs, idOrName);
      if (row && p.roles[row.orgId]) return this.reach(row, request, ticket);
    }
    throw new HttpError(404, "not_found", "no such host");
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
    return { id: LOCAL_HOST_ID, name: hostname(), local: true, online: true, lastSeen: new Date().toISOString(), organizationId: orgId, ports: [] };
  }

  /** The replica holding this host, when it is another one and its heartbeats are recent. */
  private peerOf(r: HostRow): string | null {
    const fresh = Date.now() - r.lastSeen.getTime() < this.hub.pingMs * 3 + PEER_SLACK_MS;
    return r.online && r.replica && r.replica !== this.hub.replica && fresh ? r.replica : null;
  }

  private entry(r: HostRow): HostEntry {
    const link = this.hub.link(r.id);
    return {
      id: r.id,
      name: r.name,
      local: false,
      online: !!link || !!this.peerOf(r),
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
