// Acts repeated on every request (a program calling a host's port through the proxy) are recorded
// once per key (who, what) per interval: the first time is what an audit asks about, the rest
// would bury it.
import type { AuditEvent } from "./event";
import type { Audit } from "./service";
import { Throttle } from "./throttle";

const EVERY_MS = 10 * 60_000;

export class Sampled {
  private throttle = new Throttle(EVERY_MS);

  constructor(private audit: Audit) {}

  record(key: string, event: AuditEvent): void {
    if (this.throttle.allow(key)) this.audit.record(event);
  }
}
