// Apps: the ports hosts expose, each served on an origin of its own (SPEC §4), never on the
// dashboard's. This is what they share: where the origins are, which app a label names for a
// principal, and the app cookie — a short-lived token for one app and one user, minted from a
// session and dying with it.
import type { Logger } from "../log";
import type { ServeConfig } from "../config";
import { APP_AUDIENCE, type AppGrant, type Auth, type Principal } from "../auth";
import { setCookie } from "../auth/cookies";
import type { Directory } from "../relay";
import { appLabel, labelPart, parseLabel } from "./labels";
import { AppOrigins } from "./origins";

export interface AppTarget {
  orgId: string;
  hostId: string;
  port: number;
}

export class Apps {
  /** Null while apps are off (remote policy without --apps-url) or until a loopback server listens. */
  origins: AppOrigins | null;
  /** The dashboard's origin, where app origins send people to (re)open an app. */
  mainUrl = "";

  constructor(
    readonly auth: Auth,
    readonly hosts: Directory,
    readonly log: Logger,
    private config: ServeConfig,
  ) {
    this.origins = config.appsUrl ? new AppOrigins(config.appsUrl) : null;
  }

  /** Whether app origins may exist on this server at all (decided before it listens). */
  get possible(): boolean {
    return !!this.config.appsUrl || this.config.policy === "loopback";
  }

  /** Called once the server listens: the main URL, and on a laptop the default origins. */
  listening(url: string, port: number): void {
    this.mainUrl = this.config.publicUrl ?? url;
    if (!this.origins && this.config.policy === "loopback") this.origins = AppOrigins.loopback(port);
  }

  /** The URL of a host's port as an app, or null when apps are off. */
  url(port: number, host: { id: string; name: string }, org: { id: string; slug: string }): string | null {
    return this.origins ? `${this.origins.origin(appLabel(port, host, org))}/` : null;
  }

  /** Where an app origin sends a browser that has no app cookie: the dashboard's launch route. */
  launchUrl(label: string, path: string): string {
    return `${this.mainUrl}/apps/launch?${new URLSearchParams({ app: label, path })}`;
  }

  /** The app a label names among the principal's organizations and their hosts, or null. */
  async resolve(p: Principal, label: string): Promise<AppTarget | null> {
    const parts = parseLabel(label);
    if (!parts) return null;
    const org = p.organizations.find((o) => p.orgIds.includes(o.id) && labelPart(o.slug, o.id) === parts.org);
    if (!org) return null;
    const host = (await this.hosts.inOrg(org.id)).find((h) => labelPart(h.name, h.id) === parts.host);
    return host ? { orgId: org.id, hostId: host.id, port: parts.port } : null;
  }

  /** An app cookie for one user, one app, from one session. */
  async cookie(grant: Omit<AppGrant, "expiresAt">): Promise<{ value: string; expiresAt: Date }> {
    const { token, expiresAt } = await this.auth.jwts.sign({ sub: grant.userId, orgs: [grant.orgId], src: `s:${grant.sessionId}`, app: grant.app }, Date.now(), APP_AUDIENCE);
    return { value: setCookie("warren_app", this.origins!.secure, token, expiresAt), expiresAt };
  }

  /** Renew a cookie once half of its life is gone (the JWT lifetime is the whole of it). */
  dueForRenewal(grant: AppGrant): boolean {
    return grant.expiresAt.getTime() - Date.now() < this.config.jwtLifetimeMs / 2;
  }
}
