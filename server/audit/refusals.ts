// Refusals a client can repeat at will, recorded at most once a minute per key or address so that
// a loop cannot flood the audit log: a revoked (or disabled) API key presented again, and an
// address tripping the failed-credential rate limit. Called from the resolver's failure path; it
// never throws there and never makes the refusal wait.
import type { Client } from "./event";
import type { Audit } from "./service";
import { Throttle } from "./throttle";

const EVERY_MS = 60_000;

export class Refusals {
  private keys = new Throttle(EVERY_MS);
  private trips = new Throttle(EVERY_MS);

  constructor(
    private audit: Audit,
    private onError: (e: unknown) => void,
  ) {}

  /**
   * A well-formed API key was refused; `label` is its visible prefix (sk_live_xxxxxxxx). Only a
   * key the audit log saw revoked or disabled last counts: anything else is merely a bad key.
   */
  keyRefused(label: string, client: Client): void {
    if (!this.keys.allow(label)) return;
    (async () => {
      await this.audit.flush();
      const last = await this.audit.store.lastKeyChange(label);
      if (!last || last.action === "apikey.enable") return;
      this.audit.record({
        action: "apikey.used_after_revoke",
        actor: { kind: "apikey", id: last.targetId, user: last.actorUser },
        org: last.orgId,
        target: { type: "apikey", id: last.targetId!, label },
        outcome: "failure",
        reason: last.action === "apikey.disable" ? "disabled" : "revoked",
        client,
      });
    })().catch(this.onError);
  }

  /** `ip` has used up its failed attempts: 429s follow. */
  tripped(ip: string): void {
    if (!this.trips.allow(ip)) return;
    this.audit.record({ action: "ratelimit.trip", actor: { kind: "anonymous", id: null }, org: null, target: { type: "client", id: ip }, outcome: "failure", reason: "rate_limited", client: { ip, userAgent: null, requestId: null } });
  }
}
