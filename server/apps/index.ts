// server/apps: apps on hosts' exposed ports, each on an origin of its own (SPEC §4).
//   Apps            where app origins are, which app a label names, the app cookie
//   appOrigins(apps)  the front door: requests whose Host is an app origin are the app's, all of
//                     them; nothing of Warren's routes is reachable there
//   launchRoute(apps) GET /apps/launch on the dashboard's origin, the way into an app
import { Elysia } from "elysia";
import type { Server } from "bun";
import { logAppRequest, noteStart } from "../http/access-log";
import { errorResponse, HttpError } from "../http/errors";
import { parseLabel } from "./labels";
import type { Apps } from "./apps";
import { APP_HEADER, serveApp } from "./serve";
import { FORWARDED } from "../relay/peer";

export { Apps } from "./apps";
export { launchRoute } from "./launch";
export { appLabel } from "./labels";

/**
 * Dispatch by Host, before routing. Only a server that may have app origins pays for the hook:
 * an onRequest hook costs every request a little (bench/http.ts).
 */
export const appOrigins = (apps: Apps) =>
  apps.possible
    ? new Elysia({ name: "app-origins" }).onRequest(({ request, server }) => {
        const label = apps.origins?.labelOf(request.headers.get("host")) ?? forwardedApp(request);
        // Synchronous for everything else: the dashboard's requests pay one header read.
        return label ? answer(apps, label, request, server!) : undefined;
      })
    : new Elysia({ name: "app-origins" });

/**
 * A request another replica forwarded for an app whose host is connected here: its Host names
 * that replica's origin, so the label travels in a header. Only a routing hint: the app cookie
 * must still be one for this label.
 */
const forwardedApp = (request: Request) => (request.headers.has(FORWARDED) ? (request.headers.get(APP_HEADER) ?? undefined) : undefined);

async function answer(apps: Apps, label: string, request: Request, server: Server<unknown>): Promise<Response> {
  noteStart(request);
  // A name under the apps domain that is no app's label is nobody's: nothing of it is parsed further.
  const response = parseLabel(label)
    ? await serveApp(apps, label, request, server).catch((e) => errorResponse(apps.log, request, e))
    : errorResponse(apps.log, request, new HttpError(404, "not_found", "no such app"));
  // Logged by app, never by path: the path is the app's business, and may hold its secrets.
  logAppRequest(apps.log, request, label, response.status);
  return response;
}
