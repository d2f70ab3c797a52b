// /: the dashboard — organizations, hosts and terminals, API keys, members, sessions, and for
// owners and admins the audit log. Every action is the same JSON API the CLI uses. A 401 at any
// point means this browser was signed out: back to /pair. Secrets (a new key, an invite link) are
// shown once and removed from the page on "Done". It stays current by itself: /api/events says
// which section changed, and that section is fetched again (after a dropped connection,
// everything is).
const $ = (id) => document.getElementById(id);
let me;
/** GET /api/auth/oidc: whether people sign in with a provider here, and whether only with it. */
let oidc = null;
let leaving = false;
/** Signed out: to /pair, once (two navigations racing would abort each other). */
function toPair() {
  if (!leaving) location.replace("/pair");
  leaving = true;
}
/** What the sections need from the last full load: the active org, and whether I manage it. */
let view = { active: null, manager: false, orgName: (id) => id };

/** A time as people say it ("5 min ago"), the exact one on hover; kept current by a timer. */
function when(iso, prefix = "") {
  if (!iso) return el("span", { className: "never", textContent: `${prefix}never` });
  const t = el("time", { dateTime: iso, title: new Date(iso).toLocaleString(), textContent: prefix + ago(iso) });
  t.dataset.prefix = prefix;
  return t;
}
function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  const d = Math.round(s / 86_400);
  return d === 1 ? "yesterday" : d < 30 ? `${d} days ago` : new Date(iso).toLocaleDateString();
}
setInterval(() => {
  for (const t of document.querySelectorAll("time[datetime]")) t.textContent = t.dataset.prefix + ago(t.dateTime);
}, 30_000);

async function call(method, path, body) {
  const r = await fetch(path, { method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
  if (r.status === 401) {
    toPair();
    throw new Error("signed out");
  }
  if (!r.ok) {
    const b = await r.json().catch(() => null);
    const message = b?.error?.message ?? `The server answered ${r.status}.`;
    throw new Error(message.charAt(0).toUpperCase() + message.slice(1));
  }
  return r.status === 204 ? null : r.json();
}

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}
const cell = (...c) => el("td", {}, ...c);
const button = (text, label, onclick, cls = "secondary") => el("button", { type: "button", className: cls, textContent: text, onclick, ariaLabel: label });
/** A destructive action: red, and asked about first (its label is the question's subject). */
const danger = (text, label, run) => button(text, label, () => confirm(`${label}? This cannot be undone.`) && act(run), "danger small");

async function act(fn) {
  $("error").hidden = true;
  try {
    await fn();
    await load();
  } catch (e) {
    if (e.message === "signed out") return;
    $("error").textContent = e.message;
    $("error").hidden = false;
  }
}

/** Shows a secret once, and optionally the exact command to use it with ("next step"). */
function showSecret(label, value, next) {
  $("secret-label").textContent = label;
  $("secret-value").textContent = value;
  $("next-label").textContent = next?.label ?? "";
  $("next-value").textContent = next?.command ?? "";
  $("next").hidden = !next;
  $("secret").hidden = false;
  $("secret-copy").focus();
}
// Where the Clipboard API is missing (plain http on a LAN is not a secure context) or refused,
// the text is selected instead, for Ctrl-C / Cmd-C.
const copier = (button, source) => async () => {
  const copied = await navigator.clipboard?.writeText(source.textContent).then(() => true, () => false);
  if (copied) return void (button.textContent = "Copied");
  const range = document.createRange();
  range.selectNodeContents(source);
  getSelection().removeAllRanges();
  getSelection().addRange(range);
  button.textContent = "Selected: press Ctrl-C";
};
$("secret-copy").onclick = copier($("secret-copy"), $("secret-value"));
$("next-copy").onclick = copier($("next-copy"), $("next-value"));
$("secret-dismiss").onclick = () => {
  for (const id of ["secret-value", "secret-label", "next-value", "next-label"]) $(id).textContent = "";
  $("secret").hidden = true;
  $("secret-copy").textContent = "Copy";
  $("next-copy").replaceChildren("Copy", el("span", { className: "sr-only", textContent: " command" }));
};
/** Quoted for a POSIX shell, as the CLI lines we show are pasted into one. */
const sh = (text) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`);

async function load() {
  me = await call("GET", "/api/auth/session");
  if (!me.authenticated) return toPair();
  // The email is hidden on a phone (still read out); the name alone keeps the header one row.
  $("who").replaceChildren(me.user.name, me.user.email ? el("span", { className: "email", textContent: ` <${me.user.email}>` }) : "");
  $("sign-out").hidden = false;
  oidc ??= await fetch("/api/auth/oidc").then((r) => r.json(), () => null);
  // Under --oidc-required new people come in by the provider: an invitation is for their email, not a link.
  $("invite-submit").textContent = oidc?.required ? "Invite by email" : "Create invite link";
  const orgName = (id) => me.organizations.find((o) => o.id === id)?.slug ?? id;
  // Your role in each is on the Members card (and in the option's tooltip): the header stays one row on a phone.
  const options = () => me.organizations.map((o) => el("option", { value: o.id, textContent: o.name, title: `${o.name}: you are ${o.role}`, selected: o.id === me.activeOrganizationId }));
  $("org-select").replaceChildren(...options());
  $("key-org").replaceChildren(...options());
  const active = me.organizations.find((o) => o.id === me.activeOrganizationId);
  view = { active, manager: !!active && active.role !== "member", orgName };

  // Each section loads and fails on its own: one unreachable host, or one failing call, shows
  // its error where it belongs and never blanks the rest of the page.
  await Promise.all(Object.keys(SECTIONS).map((id) => section(id)));
}

const SECTIONS = { hosts: () => loadHosts(), keys: () => loadKeys(), members: () => loadMembers(), sessions: () => loadSessions(), audit: () => loadAudit() };

/** Runs one section's loader; its failure is shown in that section only (sign-out still goes to /pair). */
async function section(id) {
  const host = $(id).closest("section");
  let error = host.querySelector(".section-error");
  try {
    await SECTIONS[id]();
    error?.remove();
  } catch (e) {
    if (e.message === "signed out") throw e;
    if (!error) host.querySelector(".head").after((error = el("p", { className: "error section-error", role: "alert" })));
    error.textContent = e.message;
  }
}

async function loadHosts() {
  const { hosts } = await call("GET", "/api/hosts");
  const blocks = await Promise.all(hosts.map((h) => hostCard(h)));
  $("hosts").replaceChildren(
    ...(blocks.length
      ? blocks
      : [el("p", { className: "hint" }, "No hosts yet. Create an API key below, then run the line it shows on the machine you want to reach (", el("code", { textContent: "warren host start --daemon" }), ").")]),
  );
}

/** What tells one host from another: where it is, what it runs. */
function hostFacts(h) {
  const facts = [h.kind === "local" ? "this server" : "remote", h.platform, h.version && `warren ${h.version}`].filter(Boolean).join(" · ");
  return el("p", { className: "facts" }, el("span", { textContent: facts }));
}

/** Online since / offline and last seen: a badge, then the time (relative, exact on hover). */
function hostStatus(h) {
  return h.online
    ? el("span", { className: "status" }, el("span", { className: "badge ok", textContent: "online" }), h.connectedSince ? " " : null, h.connectedSince ? when(h.connectedSince, "since ") : null)
    : el("span", { className: "status" }, el("span", { className: "badge off", textContent: "offline" }), " last seen ", when(h.lastSeen));
}

/** New terminal on an online host; Rename and Remove, for owners and admins, on hosts that dialled in. */
function hostActions(h) {
  const open = h.online
    ? button("New terminal", `New terminal on ${h.name}`, () =>
        act(async () => {
          const t = await call("POST", `/api/hosts/${encodeURIComponent(h.id)}/terminals`, { cols: 120, rows: 32 });
          window.open(`/term/${encodeURIComponent(h.id)}/${encodeURIComponent(t.id)}`, "_blank", "noopener");
        }),
        "small",
      )
    : null;
  const manage = h.kind === "remote" && view.manager;
  if (!open && !manage) return null;
  return el(
    "span",
    { className: "host-actions" },
    open,
    manage
      ? button("Rename", `Rename host ${h.name}`, () => {
          const name = prompt(`New name for ${h.name} (letters, digits, ".", "_", "-")`, h.name);
          if (name && name !== h.name) act(() => call("PATCH", `/api/hosts/${encodeURIComponent(h.id)}`, { name }));
        }, "secondary small")
      : null,
    manage ? danger("Remove", `Remove host ${h.name}`, () => call("DELETE", `/api/hosts/${encodeURIComponent(h.id)}`)) : null,
  );
}

/** One terminal: named by its command (a link to it), a status badge, its id (copyable), when it started. */
function terminalItem(h, t) {
  const cmd = t.cmd.join(" ");
  const id = el("code", { textContent: t.id });
  const copy = el("button", { type: "button", className: "secondary small" }, "Copy id", el("span", { className: "sr-only", textContent: ` of ${cmd}` }));
  copy.onclick = copier(copy, id);
  const path = `/api/hosts/${encodeURIComponent(h.id)}/terminals/${encodeURIComponent(t.id)}`;
  return el(
    "li",
    {},
    el(
      "div",
      { className: "term-title" },
      el("a", { href: `/term/${encodeURIComponent(h.id)}/${encodeURIComponent(t.id)}`, target: "_blank", rel: "noopener", textContent: cmd }),
      t.exit
        ? el("span", { className: "badge", textContent: `ended · ${t.exit.signal ?? `code ${t.exit.code}`}` })
        : el("span", { className: "badge ok", textContent: `running · ${t.attached} attached` }),
    ),
    t.exit ? null : danger("Kill", `Kill ${cmd}`, () => call("DELETE", path)),
    el("div", { className: "term-meta" }, id, copy, when(t.createdAt, "started ")),
  );
}

/** A host and its terminals; an offline host, or one whose terminals cannot be listed, says so on its own card. */
async function hostCard(h) {
  let terminals = null;
  let problem = null;
  if (h.online) {
    try {
      ({ terminals } = await call("GET", `/api/hosts/${encodeURIComponent(h.id)}/terminals`));
    } catch (e) {
      if (e.message === "signed out") throw e;
      problem = e.message;
    }
  }
  const items = (terminals ?? []).map((t) => terminalItem(h, t));
  return el(
    "div",
    { className: "host" },
    el("div", { className: "host-head" }, el("h3", { textContent: h.name }), hostStatus(h), hostActions(h)),
    el(
      "div",
      { className: "host-body" },
      hostFacts(h),
      h.apps.length
        ? el(
            "p",
            { className: "apps" },
            "Apps: ",
            ...h.apps.map((a) =>
              a.url
                ? el("a", { href: a.url, target: "_blank", rel: "noopener noreferrer", textContent: `port ${a.port}`, title: a.url })
                : el("span", { textContent: `port ${a.port}`, title: "this server serves no apps (warren serve --apps-url)" }),
            ),
          )
        : null,
      problem
        ? el("p", { className: "error", role: "alert", textContent: problem })
        : !h.online
          ? el("p", { className: "hint" }, "Its terminals come back when it reconnects: run ", el("code", { textContent: "warren host start --daemon" }), " on that machine.")
          : items.length
            ? el("ul", { className: "terms", ariaLabel: `Terminals on ${h.name}` }, ...items)
            : el("p", { className: "hint" }, "No terminals yet: New terminal opens one here, or from a shell ", el("code", { textContent: `warren term new --host ${h.kind === "local" ? "local" : h.name} --attach` }), "."),
    ),
  );
}

/** A table's body, or one row saying what to do when there is nothing in it. */
function fill(table, rows, empty) {
  const heads = [...table.tHead.rows[0].cells];
  const columns = heads.length;
  // Each cell knows its column's name: a phone shows the rows stacked, each value labelled.
  for (const row of rows) [...row.cells].forEach((c, i) => heads[i].scope && !heads[i].querySelector(".sr-only") && (c.dataset.label = heads[i].textContent));
  table.tBodies[0].replaceChildren(...(rows.length ? rows : [el("tr", { className: "empty" }, el("td", { colSpan: columns, className: "hint", textContent: empty }))]));
}

async function loadKeys() {
  const { keys } = await call("GET", "/api/api-keys");
  fill(
    $("keys"),
    keys.map((k) =>
      el(
        "tr",
        {},
        cell(k.name + (k.enabled ? "" : " (disabled)")),
        cell(el("code", { textContent: `sk_live_${k.prefix}…` })),
        cell(view.orgName(k.organizationId)),
        cell(when(k.lastUsedAt)),
        cell(danger("Revoke", `Revoke key ${k.name}`, () => call("DELETE", `/api/api-keys/${encodeURIComponent(k.id)}`))),
      ),
    ),
    "No API keys yet. Create one for a machine to connect as a host, or for CI.",
  );
}

async function loadMembers() {
  const { active, manager } = view;
  const { members } = active ? await call("GET", `/api/orgs/${encodeURIComponent(active.id)}/members`) : { members: [] };
  $("invite-form").hidden = !manager;
  $("members-alone").hidden = !(manager && members.length === 1);
  fill(
    $("members"),
    members.map((m) => {
      const self = m.userId === me.user.id;
      const role = manager && !self
        ? el("select", { ariaLabel: `Role of ${m.email ?? m.name}`, onchange: (e) => act(() => call("PATCH", `/api/orgs/${encodeURIComponent(active.id)}/members/${encodeURIComponent(m.userId)}`, { role: e.target.value })) },
            ...["member", "admin", "owner"].map((r) => el("option", { value: r, textContent: r, selected: r === m.role })))
        : m.role;
      return el(
        "tr",
        {},
        cell(m.name + (self ? " (you)" : "")),
        cell(m.email ?? ""),
        cell(role),
        cell(manager && !self ? danger("Remove", `Remove ${m.email ?? m.name}`, () => call("DELETE", `/api/orgs/${encodeURIComponent(active.id)}/members/${encodeURIComponent(m.userId)}`)) : ""),
      );
    }),
    "You are in no organization.",
  );
}

async function loadSessions() {
  const [{ sessions }, identity] = await Promise.all([call("GET", "/api/auth/sessions"), oidc?.enabled ? call("GET", "/api/auth/oidc/identity") : null]);
  $("identity").hidden = !identity;
  if (identity) {
    $("identity").replaceChildren(
      ...(identity.linked
        ? [el("span", { className: "badge ok", textContent: `Linked to ${identity.provider}` }), identity.email ? ` as ${identity.email}: sign in with ${identity.provider} from any browser.` : `: sign in with ${identity.provider} from any browser.`]
        : [`Not linked to ${identity.provider}: link your account to sign in with it from any browser. `, button(`Link to ${identity.provider}`, `Link your account to ${identity.provider}`, () => act(linkAccount))]),
    );
  }
  fill(
    $("sessions"),
    sessions.map((x) =>
      el(
        "tr",
        {},
        cell(x.deviceName + (x.current ? " (this browser)" : "")),
        cell(when(x.createdAt)),
        cell(when(x.lastUsedAt)),
        cell(x.current ? "" : danger("Revoke", `Revoke ${x.deviceName}`, () => call("DELETE", `/api/auth/sessions/${encodeURIComponent(x.id)}`))),
      ),
    ),
    "No sessions.",
  );
}

/** Where the audit list shown so far ends ("Show older" asks from there). */
let auditNext = null;
/** The audit log, for owners and admins: the latest events, older ones a page at a time. */
async function loadAudit(more = false) {
  const { active, manager } = view;
  $("audit-section").hidden = !manager;
  if (!manager) return;
  const q = new URLSearchParams({ limit: "50" });
  if ($("audit-filter").value) q.set("action", $("audit-filter").value);
  if (more && auditNext) q.set("cursor", auditNext);
  const base = `/api/orgs/${encodeURIComponent(active.id)}`;
  const [page, { members }] = await Promise.all([call("GET", `${base}/audit?${q}`), call("GET", `${base}/members`)]);
  const name = (id) => {
    const m = members.find((x) => x.userId === id);
    return m ? (m.userId === me.user.id ? "you" : (m.email ?? m.name)) : id;
  };
  const who = (a) => (a.kind === "anonymous" ? "someone" : a.kind === "user" ? name(a.id) : `${a.kind === "apikey" ? "API key" : "host"} of ${name(a.user)}`);
  const rows = page.events.map((e) =>
    el(
      "tr",
      {},
      cell(when(e.time)),
      // Nearly everything succeeds: only a failure says so, beside the action.
      cell(el("code", { textContent: e.action }), e.outcome === "failure" ? " " : null, e.outcome === "failure" ? el("span", { className: "badge", textContent: `failed: ${e.reason ?? "?"}` }) : null),
      cell(who(e.actor)),
      cell(e.target ? `${e.target.type} ${e.target.label ?? (e.target.type === "user" ? name(e.target.id) : e.target.id)}` : ""),
      cell(e.client.ip ?? ""),
    ),
  );
  auditNext = page.nextCursor;
  $("audit-more").hidden = !page.nextCursor;
  if (more) {
    for (const r of rows) $("audit").tBodies[0].append(r);
    fill($("audit"), [...$("audit").tBodies[0].rows].filter((r) => !r.classList.contains("empty")), "Nothing recorded yet.");
  } else fill($("audit"), rows, "Nothing recorded yet.");
}
$("audit-filter").onchange = () => section("audit");
$("audit-more").onclick = () => loadAudit(true).catch((e) => e.message === "signed out" || (($("error").textContent = e.message), ($("error").hidden = false)));

$("org-select").onchange = (e) => act(() => call("PATCH", "/api/auth/session", { activeOrganizationId: e.target.value }));
$("key-form").onsubmit = (e) => {
  e.preventDefault();
  act(async () => {
    const k = await call("POST", "/api/api-keys", { name: $("key-name").value, organizationId: $("key-org").value });
    $("key-name").value = "";
    const host = /^(?!local$)[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(k.name) ? k.name : "my-machine";
    showSecret(`Your new API key "${k.name}". It is shown only now: copy it into your secret store.`, k.key, {
      label: "To make a machine a host with it, run this there:",
      command: `WARREN_API_KEY=${k.key} warren host start --daemon --server ${sh(location.origin)} --name ${sh(host)}`,
    });
  });
};
/** A POST (Origin-checked, never a GET), then off to the provider; its answer comes back to this session. */
async function linkAccount() {
  const { url } = await call("POST", "/api/auth/oidc/link");
  leaving = true;
  location.assign(url);
}
$("invite-form").onsubmit = (e) => {
  e.preventDefault();
  act(async () => {
    if (oidc?.required) {
      const invited = await call("POST", `/api/orgs/${encodeURIComponent(me.activeOrganizationId)}/invitations`, { email: $("invite-email").value, role: $("invite-role").value });
      $("invite-email").value = "";
      showSecret(`Invited ${invited.email}. Tell them to sign in with ${invited.provider}, as that address, here (within 7 days):`, invited.signInUrl);
      return;
    }
    const link = await call("POST", "/api/auth/pairing-links", {
      ttlSeconds: 86_400,
      invite: { email: $("invite-email").value, organizationId: me.activeOrganizationId, role: $("invite-role").value },
    });
    $("invite-email").value = "";
    showSecret("Send this one-time invite link to them (valid for 24 hours, once):", link.url);
  });
};
$("add-device").onclick = () =>
  act(async () => {
    const link = await call("POST", "/api/auth/pairing-links", {});
    showSecret("Open this one-time link on your other device (valid 5 minutes, once):", link.url, {
      label: "Or sign a command line in with it:",
      command: `warren auth login ${sh(link.url)}`,
    });
  });
$("sign-out").onclick = async () => {
  const r = await fetch("/api/auth/sign-out", { method: "POST" });
  // Signed in by the provider: sign out there too; it sends the browser back to /pair.
  const end = r.status === 200 ? (await r.json().catch(() => null))?.endSessionUrl : null;
  if (end) {
    leaving = true;
    location.assign(end);
  } else toPair();
};

/** Live updates: a notice names a section, which is fetched again; a reconnect refetches everything. */
function live() {
  const source = new EventSource("/api/events");
  const pending = new Set();
  let timer;
  let dropped = false;
  // The words are in a span: a phone shows only the dot (a ring while not live); they are still read out.
  const state = (text, cls) => Object.assign($("live"), { className: cls, title: text }).replaceChildren(el("span", { textContent: text }));
  source.addEventListener("ready", () => {
    state("Live", "live-on");
    if (dropped) act(async () => {});
    dropped = false;
  });
  source.addEventListener("change", (e) => {
    const { topic } = JSON.parse(e.data);
    // Terminals are listed on their host's card; a membership change may change my orgs and role.
    pending.add(topic === "terminals" ? "hosts" : topic === "members" ? "*" : topic);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const ids = [...pending];
      pending.clear();
      if (ids.includes("*")) act(async () => {});
      else for (const id of ids) if (SECTIONS[id]) section(id).catch(() => {});
    }, 150);
  });
  source.onerror = () => {
    dropped = true;
    state("Reconnecting…", "live-off");
    // A signed-out browser gets 401, which EventSource does not retry: find out and go to /pair.
    if (source.readyState === EventSource.CLOSED) call("GET", "/api/auth/session").then((s) => (s.authenticated ? setTimeout(live, 3000) : toPair()), () => leaving || setTimeout(live, 3000));
  };
}

act(async () => {}).then(live);
