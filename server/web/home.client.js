// /: the dashboard — organizations, hosts and terminals, API keys, members, sessions. Every action
// is the same JSON API the CLI uses. A 401 at any point means this browser was signed out: back
// to /pair. Secrets (a new key, an invite link) are shown once and removed from the page on "Done".
const $ = (id) => document.getElementById(id);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");
let me;

async function call(method, path, body) {
  const r = await fetch(path, { method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
  if (r.status === 401) {
    location.replace("/pair");
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
const danger = (text, label, run) => button(text, label, () => confirm(`${label}? This cannot be undone.`) && act(run), "danger");

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

function showSecret(label, value) {
  $("secret-label").textContent = label;
  $("secret-value").textContent = value;
  $("secret").hidden = false;
  $("secret-copy").focus();
}
// Where the Clipboard API is missing (plain http on a LAN is not a secure context) or refused,
// the text is selected instead, for Ctrl-C / Cmd-C.
$("secret-copy").onclick = async () => {
  const copied = await navigator.clipboard?.writeText($("secret-value").textContent).then(() => true, () => false);
  if (copied) return void ($("secret-copy").textContent = "Copied");
  const range = document.createRange();
  range.selectNodeContents($("secret-value"));
  getSelection().removeAllRanges();
  getSelection().addRange(range);
  $("secret-copy").textContent = "Selected: press Ctrl-C";
};
$("secret-dismiss").onclick = () => {
  $("secret-value").textContent = "";
  $("secret-label").textContent = "";
  $("secret").hidden = true;
  $("secret-copy").textContent = "Copy";
};

async function load() {
  me = await call("GET", "/api/auth/session");
  if (!me.authenticated) return location.replace("/pair");
  $("who").textContent = `${me.user.name}${me.user.email ? ` <${me.user.email}>` : ""}`;
  $("sign-out").hidden = false;
  const orgName = (id) => me.organizations.find((o) => o.id === id)?.slug ?? id;
  const options = () => me.organizations.map((o) => el("option", { value: o.id, textContent: `${o.name} (${o.role})`, selected: o.id === me.activeOrganizationId }));
  $("org-select").replaceChildren(...options());
  $("key-org").replaceChildren(...options());
  const active = me.organizations.find((o) => o.id === me.activeOrganizationId);
  const manager = active && active.role !== "member";

  // Each section loads and fails on its own: one unreachable host, or one failing call, shows
  // its error where it belongs and never blanks the rest of the page.
  await Promise.all([
    section("hosts", () => loadHosts()),
    section("keys", () => loadKeys(orgName)),
    section("members", () => loadMembers(active, manager)),
    section("sessions", () => loadSessions()),
  ]);
}

/** Runs one section's loader; its failure is shown in that section only (sign-out still goes to /pair). */
async function section(id, load) {
  const host = $(id).closest("section");
  let error = host.querySelector(".section-error");
  try {
    await load();
    error?.remove();
  } catch (e) {
    if (e.message === "signed out") throw e;
    if (!error) host.querySelector("h2").after((error = el("p", { className: "error section-error", role: "alert" })));
    error.textContent = e.message;
  }
}

async function loadHosts() {
  const { hosts } = await call("GET", "/api/hosts");
  const blocks = await Promise.all(hosts.map((h) => hostCard(h)));
  $("hosts").replaceChildren(...(blocks.length ? blocks : [el("p", { className: "hint", textContent: "No hosts in this organization yet. Run `warren host start` on a machine." })]));
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
  const rows = (terminals ?? []).map((t) =>
    el(
      "tr",
      {},
      cell(el("a", { href: `/term/${encodeURIComponent(h.id)}/${encodeURIComponent(t.id)}`, target: "_blank", rel: "noopener", textContent: t.cmd.join(" ") })),
      cell(t.exit ? `ended (${t.exit.signal ?? `code ${t.exit.code}`})` : `running, ${t.attached} attached`),
      cell(when(t.createdAt)),
      cell(t.exit ? "" : danger("Kill", `Kill ${t.cmd.join(" ")}`, () => call("DELETE", `/api/hosts/${encodeURIComponent(h.id)}/terminals/${encodeURIComponent(t.id)}`))),
    ),
  );
  return el(
    "div",
    { className: "host" },
    el("h3", {}, `${h.name} `, el("span", { className: h.online ? "online" : "offline", textContent: h.online ? "online" : `offline, last seen ${when(h.lastSeen)}` })),
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
    h.online
      ? button("New terminal", `New terminal on ${h.name}`, () =>
          act(async () => {
            const t = await call("POST", `/api/hosts/${encodeURIComponent(h.id)}/terminals`, { cols: 120, rows: 32 });
            window.open(`/term/${encodeURIComponent(h.id)}/${encodeURIComponent(t.id)}`, "_blank", "noopener");
          }),
          "",
        )
      : null,
    problem
      ? el("p", { className: "error", role: "alert", textContent: problem })
      : !h.online
        ? el("p", { className: "hint", textContent: "Its terminals come back when it reconnects (warren host start on that machine)." })
        : rows.length
          ? el("table", {}, el("tbody", {}, ...rows))
          : el("p", { className: "hint", textContent: "No terminals yet." }),
  );
}

async function loadKeys(orgName) {
  const { keys } = await call("GET", "/api/api-keys");
  $("keys").tBodies[0].replaceChildren(
    ...keys.map((k) =>
      el(
        "tr",
        {},
        cell(k.name + (k.enabled ? "" : " (disabled)")),
        cell(el("code", { textContent: `sk_live_${k.prefix}…` })),
        cell(orgName(k.organizationId)),
        cell(when(k.lastUsedAt)),
        cell(danger("Revoke", `Revoke key ${k.name}`, () => call("DELETE", `/api/api-keys/${encodeURIComponent(k.id)}`))),
      ),
    ),
  );
}

async function loadMembers(active, manager) {
  const { members } = active ? await call("GET", `/api/orgs/${encodeURIComponent(active.id)}/members`) : { members: [] };
  $("invite-form").hidden = !manager;
  $("members").tBodies[0].replaceChildren(
    ...members.map((m) => {
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
  );
}

async function loadSessions() {
  const { sessions } = await call("GET", "/api/auth/sessions");
  $("sessions").tBodies[0].replaceChildren(
    ...sessions.map((x) =>
      el(
        "tr",
        {},
        cell(x.deviceName + (x.current ? " (this browser)" : "")),
        cell(when(x.createdAt)),
        cell(when(x.lastUsedAt)),
        cell(x.current ? "" : danger("Revoke", `Revoke ${x.deviceName}`, () => call("DELETE", `/api/auth/sessions/${encodeURIComponent(x.id)}`))),
      ),
    ),
  );
}

$("org-select").onchange = (e) => act(() => call("PATCH", "/api/auth/session", { activeOrganizationId: e.target.value }));
$("key-form").onsubmit = (e) => {
  e.preventDefault();
  act(async () => {
    const k = await call("POST", "/api/api-keys", { name: $("key-name").value, organizationId: $("key-org").value });
    $("key-name").value = "";
    showSecret(`Your new API key "${k.name}". It is shown only now: copy it into your secret store.`, k.key);
  });
};
$("invite-form").onsubmit = (e) => {
  e.preventDefault();
  act(async () => {
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
    showSecret("Open this one-time link on your other device (valid 5 minutes, once):", link.url);
  });
$("sign-out").onclick = async () => {
  await fetch("/api/auth/sign-out", { method: "POST" });
  location.replace("/pair");
};

act(async () => {});
