// The protocol's reserved control routes under /v1/stream/__ds (subscriptions and their JWKS).
// Callback, ack and release carry the wake's own token instead of a Warren credential (a
// webhook receiver has no Warren account); the JWKS is public. Everything else is called with a
// Warren credential and acts in the caller's org.
import { tryParseJson } from "../../http/json";
import { ProtocolError, type Subscriptions } from "./manager";

export const CONTROL_PREFIX = "/v1/stream/__ds/";

type Action = "base" | "streams" | "stream" | "callback" | "claim" | "ack" | "release" | "jwks";

export interface ControlRoute {
  action: Action;
  name: string;
  path?: string;
}

/** What a /v1/stream/__ds/… path asks for; null when it names nothing (404). */
export function controlRoute(pathname: string): ControlRoute | null {
  const rest = pathname.slice(CONTROL_PREFIX.length);
  if (rest === "jwks.json") return { action: "jwks", name: "" };
  const parts = rest.split("/");
  if (parts[0] !== "subscriptions" || !parts[1]) return null;
  let name: string;
  try {
    name = decodeURIComponent(parts[1]);
  } catch {
    return null;
  }
  const tail = parts.slice(2);
  if (tail.length === 0) return { action: "base", name };
  if (tail[0] === "streams") {
    if (tail.length === 1) return { action: "streams", name };
    try {
      return { action: "stream", name, path: decodeURIComponent(tail.slice(1).join("/")) };
    } catch {
      return null;
    }
  }
  if (tail.length === 1 && ["callback", "claim", "ack", "release"].includes(tail[0]!)) return { action: tail[0] as Action, name };
  return null;
}

/** Routes that authenticate themselves (wake tokens) or need nothing (the public key set). */
export const selfAuthenticated = (r: ControlRoute) => r.action === "jwks" || r.action === "callback" || r.action === "ack" || r.action === "release";

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({ status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
const none = () => ({ status: 204, headers: {}, body: null });

export interface ControlResult {
  status: number;
  headers: Record<string, string>;
  body: string | null;
}

export async function control(
  subs: Subscriptions,
  route: ControlRoute,
  method: string,
  request: Request,
  raw: Uint8Array,
  org: () => string,
  baseUrl: string,
): Promise<ControlResult> {
  try {
    const body = () => {
      if (!raw.byteLength) return {} as Record<string, unknown>;
      const value = tryParseJson(Buffer.from(raw).toString("utf8"));
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ProtocolError(400, "INVALID_REQUEST", "the body is not a JSON object");
      return value as Record<string, unknown>;
    };
    const token = () => /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1] ?? null;
    const allow = (m: string) => {
      if (method !== m) throw new ProtocolError(405, "METHOD_NOT_ALLOWED", `use ${m} here`);
    };
    switch (route.action) {
      case "jwks":
        allow("GET");
        return json(200, subs.jwks(), { "content-type": "application/jwk-set+json", "cache-control": "public, max-age=300" });
      case "base":
        if (method === "PUT") {
          const r = await subs.put(org(), route.name, body(), baseUrl);
          return json(r.created ? 201 : 200, r.view);
        }
        if (method === "GET") return json(200, await subs.get(org(), route.name));
        allow("DELETE");
        await subs.remove(org(), route.name);
        return none();
      case "streams":
        allow("POST");
        await subs.addStreams(org(), route.name, body());
        return none();
      case "stream":
        allow("DELETE");
        await subs.removeStream(org(), route.name, route.path!);
        return none();
      case "claim":
        allow("POST");
        return json(200, await subs.claim(org(), route.name, body()));
      case "callback":
        allow("POST");
        return json(200, await subs.acknowledge(route.name, token(), body(), "webhook"));
      case "ack":
        allow("POST");
        return json(200, await subs.acknowledge(route.name, token(), body(), "pull-wake"));
      case "release":
        allow("POST");
        await subs.release(route.name, token(), body());
        return none();
    }
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    return json(e.status, { error: { code: e.code, message: e.message, ...e.extra } });
  }
}
