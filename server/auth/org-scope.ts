// Which organization a request acts in (SPEC §3): an API key's bound org, a JWT's org, a
// session's `X-Warren-Org` header or else its active org. Data modules call this and then read
// by that org id, so another org's data is never in reach of the query.
import { HttpError } from "../http/errors";
import type { Principal } from "./principal";

export const ORG_HEADER = "x-warren-org";

export function requestOrg(p: Principal, request: Request): string {
  const asked = request.headers.get(ORG_HEADER);
  if (asked !== null) {
    if (!p.roles[asked]) {
      throw p.method === "session"
        ? new HttpError(403, "not_a_member", "you are not a member of the organization in X-Warren-Org")
        : new HttpError(403, "outside_scope", "this credential is bound to another organization");
    }
    return asked;
  }
  if (!p.activeOrgId) throw new HttpError(403, "no_organization", "you are not a member of any organization");
  return p.activeOrgId;
}
