// warren audit — an organization's audit log (GET /api/orgs/:id/audit): who did what, to what,
// from where. Printed oldest first, like a log; --follow keeps asking for newer events. stdout
// carries only events; anything for a person goes to stderr.
import type { Command } from "../command";
import { client, clientFlags, type Client } from "../client";
import { UsageError } from "../flags";
import type { ShownEvent } from "../../server/audit";

const POLL_MS = 1_000;
const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "15m", "1h", "7d" ago, or an ISO 8601 time. */
export function parseSince(value: string, now = Date.now()): Date {
  const m = /^(\d+)(s|m|h|d)$/.exec(value.trim());
  if (m) return new Date(now - Number(m[1]) * UNITS[m[2]!]!);
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`--since "${value}": give a duration like 15m, 1h or 7d, or a time like 2026-01-31T09:00:00Z`, "audit");
  return new Date(t);
}

function line(e: ShownEvent): string {
  const actor = `${e.actor.kind}${e.actor.id ? `:${e.actor.id}` : ""}`;
  const target = e.target ? `${e.target.type}:${e.target.label ?? e.target.id}` : "-";
  const outcome = e.outcome === "success" ? "ok" : `FAILED${e.reason ? ` (${e.reason})` : ""}`;
  return [e.time, e.action.padEnd(24), actor, "→", target, outcome, e.client.ip ?? ""].join("  ").trimEnd();
}

export const audit: Command = {
  spec: {
    name: "audit",
    summary: "Show an organization's audit log (owners and admins): sign-ins, keys, members, hosts, terminals.",
    usage: "warren audit [--org ID] [--follow] [--json] [--action X] [--since 1h]",
    flags: {
      ...clientFlags,
      org: { type: "string", value: "id", help: "The organization (default: the one your credential acts in)" },
      follow: { type: "boolean", help: "Keep printing new events as they happen (Ctrl-C to stop)" },
      json: { type: "boolean", help: "Print one JSON object per event per line (JSON Lines)" },
      action: { type: "string", value: "action", help: "Only this action (member.remove), or a family of them (member.*)" },
      actor: { type: "string", value: "id", help: "Only what this user, API key or host did" },
      target: { type: "string", value: "id|label", help: "Only events about this thing (an id, a host's name, an sk_live_ prefix)" },
      since: { type: "string", value: "when", help: "Only events since then: 15m, 1h, 7d ago, or an ISO 8601 time" },
      limit: { type: "string", value: "n", default: "50", help: "Without --since: how many of the latest events to show" },
    },
    details: [
      "Examples:",
      "  warren audit --since 1d",
      "  warren audit --action 'apikey.*' --json | jq .actor",
      "  warren audit --follow --action terminal.create",
    ].join("\n"),
  },
  async run(flags, positionals) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, "audit");
    const limit = Number((flags.limit as string | undefined) ?? "50");
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError("--limit must be a whole number from 1 to 500", "audit");
    const since = flags.since === undefined ? undefined : parseSince(flags.since as string);
    const c = client(flags);
    const org = (flags.org as string | undefined) ?? (await c.json<{ activeOrganizationId: string | null }>("GET", "/api/auth/session")).activeOrganizationId;
    if (!org) throw new UsageError("you are in no organization; name one with --org", "audit");
    const filters = { action: flags.action, actor: flags.actor, target: flags.target } as Record<string, string | undefined>;
    const print = (e: ShownEvent) => console.log(flags.json ? JSON.stringify(e) : line(e));

    // Newest first from the server: with --since, every page back to then; else the latest page.
    let events = await fetchSince(c, org, filters, since, since ? undefined : limit);
    events.reverse().forEach(print);
    if (!flags.follow) return 0;
    let seen = new Set(events.map((e) => e.id));
    let from = events.at(-1)?.time ?? (since ?? new Date()).toISOString();
    const stop = new AbortController();
    process.once("SIGINT", () => stop.abort());
    while (!stop.signal.aborted) {
      await Bun.sleep(POLL_MS);
      events = (await fetchSince(c, org, filters, new Date(from))).reverse().filter((e) => !seen.has(e.id));
      events.forEach(print);
      if (events.length === 0) continue;
      // Only events at the newest time printed can come back: the next ask starts there, inclusive.
      const newest = events.at(-1)!.time;
      const atNewest = events.filter((e) => e.time === newest).map((e) => e.id);
      seen = new Set(newest === from ? [...seen, ...atNewest] : atNewest);
      from = newest;
    }
    return 0;
  },
};

/** Events newest first: all since `since` (page after page), or just the latest `limit`. */
async function fetchSince(c: Client, org: string, filters: Record<string, string | undefined>, since?: Date, limit?: number): Promise<ShownEvent[]> {
  const all: ShownEvent[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: String(limit ?? 500) });
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
    if (since) q.set("since", since.toISOString());
    if (cursor) q.set("cursor", cursor);
    const page: { events: ShownEvent[]; nextCursor: string | null } = await c.json("GET", `/api/orgs/${encodeURIComponent(org)}/audit?${q}`);
    all.push(...page.events);
    cursor = limit ? null : page.nextCursor;
  } while (cursor);
  return all;
}
