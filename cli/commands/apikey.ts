// warren apikey create | list | revoke — headless keys, each bound to one organization.
import type { Command } from "../command";
import { client, clientFlags, ClientError } from "../client";
import { UsageError } from "../flags";

interface Key {
  id: string;
  name: string;
  prefix: string;
  organizationId: string;
  enabled: boolean;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

export const create: Command = {
  spec: {
    name: "apikey create",
    summary: "Create an API key bound to one organization (shown once).",
    usage: "warren apikey create --name <name> [--org <slug|id>] [--expires-in-days N] [--json]",
    flags: {
      ...clientFlags,
      org: { type: "string", value: "slug|id", help: "The organization the key acts in, for life (default: your only one)" },
      name: { type: "string", value: "name", help: "What the key is for (e.g. ci, build-box)" },
      "expires-in-days": { type: "string", value: "N", help: "Make it expire after N days (default: never)" },
      json: { type: "boolean", help: "Print as JSON" },
    },
    details: "Use it as WARREN_API_KEY=sk_live_… (or --api-key) with any command; it needs your session to create.",
  },
  async run(flags) {
    const org = flags.org as string | undefined;
    const name = flags.name as string | undefined;
    if (!name) throw new UsageError("--name is required: what the key is for (e.g. ci, build-box)", "apikey create");
    const days = flags["expires-in-days"] === undefined ? undefined : Number(flags["expires-in-days"]);
    if (days !== undefined && (!Number.isInteger(days) || days < 1)) throw new UsageError("--expires-in-days must be a whole number of days", "apikey create");
    const c = client(flags);
    const { organizations } = await c.json<{ organizations: { id: string; slug: string }[] }>("GET", "/api/orgs");
    const yours = organizations.map((o) => o.slug).join(", ");
    if (!org && organizations.length !== 1) throw new UsageError(`which organization? give --org (yours: ${yours})`, "apikey create");
    const target = org === undefined ? organizations[0] : organizations.find((o) => o.slug === org || o.id === org);
    if (!target) throw new ClientError(`you are not a member of an organization "${org}" (yours: ${yours})`);
    const key = await c.json<Key & { key: string }>("POST", "/api/api-keys", { name, organizationId: target.id, ...(days ? { expiresInDays: days } : {}) });
    if (flags.json) console.log(JSON.stringify(key));
    else {
      console.log(key.key);
      console.error(`created key "${name}" (${key.id}) for ${target.slug}${key.expiresAt ? `, expires ${key.expiresAt}` : ""}. It is shown only now: store it as a secret.`);
    }
    return 0;
  },
};

export const list: Command = {
  spec: {
    name: "apikey list",
    summary: "List your API keys (never the keys themselves).",
    usage: "warren apikey list [--json]",
    flags: { ...clientFlags, json: { type: "boolean", help: "Print as JSON" } },
  },
  async run(flags) {
    const c = client(flags);
    const { keys } = await c.json<{ keys: Key[] }>("GET", "/api/api-keys");
    const { organizations } = await c.json<{ organizations: { id: string; slug: string }[] }>("GET", "/api/orgs");
    const slug = (id: string) => organizations.find((o) => o.id === id)?.slug ?? id;
    if (flags.json) console.log(JSON.stringify(keys));
    else if (keys.length === 0) console.log("no API keys; create one with: warren apikey create --org <slug> --name <name>");
    else {
      for (const k of keys) {
        const state = !k.enabled ? "disabled" : k.expiresAt && Date.parse(k.expiresAt) < Date.now() ? "expired" : "active";
        console.log(`${k.id}  sk_live_${k.prefix}…  ${k.name}  org ${slug(k.organizationId)}  ${state}  last used ${k.lastUsedAt ?? "never"}`);
      }
    }
    return 0;
  },
};

export const revoke: Command = {
  spec: {
    name: "apikey revoke",
    summary: "Revoke an API key: it stops working at once.",
    usage: "warren apikey revoke <name | id | sk_live_prefix> [--json]",
    flags: { ...clientFlags, json: { type: "boolean", help: "Print the revoked key (never the key itself) as JSON" } },
  },
  async run(flags, positionals) {
    const [which] = positionals;
    if (!which || positionals.length > 1) throw new UsageError("name one key: its name, id or sk_live_ prefix (see warren apikey list)", "apikey revoke");
    const c = client(flags);
    const { keys } = await c.json<{ keys: Key[] }>("GET", "/api/api-keys");
    const prefix = which.replace(/^sk_live_/, "").replace(/…$/, "");
    const byId = keys.filter((k) => k.id === which);
    const matches = byId.length ? byId : keys.filter((k) => k.name === which || (prefix.length >= 4 && k.prefix.startsWith(prefix)));
    if (matches.length === 0) throw new ClientError(`no API key of yours is named, numbered or prefixed "${which}" (see warren apikey list)`);
    if (matches.length > 1) throw new ClientError(`"${which}" matches ${matches.length} keys: give one's id (${matches.map((k) => k.id).join(", ")})`);
    const key = matches[0]!;
    await c.json("DELETE", `/api/api-keys/${encodeURIComponent(key.id)}`);
    console.log(flags.json ? JSON.stringify({ ...key, enabled: false }) : `revoked "${key.name}" (sk_live_${key.prefix}…, ${key.id})`);
    return 0;
  },
};
