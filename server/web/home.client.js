// /: who you are, your organizations and your sessions (revoke any of them). Signed out → /pair.
// Every action is the same JSON API the CLI uses; a 401 means this browser was signed out.
const who = document.getElementById("who");
const error = document.getElementById("error");
const orgs = document.getElementById("orgs");
const sessions = document.querySelector("#sessions tbody");
const signOut = document.getElementById("sign-out");

const when = (iso) => new Date(iso).toLocaleString();

async function call(method, path) {
  const r = await fetch(path, { method });
  if (r.status === 401) {
    location.replace("/pair");
    throw new Error("signed out");
  }
  if (!r.ok) {
    const body = await r.json().catch(() => null);
    throw new Error(body?.error?.message ?? `The server answered ${r.status}.`);
  }
  return r.status === 204 ? null : r.json();
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function load() {
  const s = await call("GET", "/api/auth/session");
  if (!s.authenticated) return location.replace("/pair");
  who.textContent = `Signed in as ${s.user.name}${s.user.email ? ` <${s.user.email}>` : ""}.`;
  orgs.replaceChildren(
    ...s.organizations.map((o) => {
      const li = document.createElement("li");
      li.textContent = `${o.name} (${o.role})${o.id === s.activeOrganizationId ? " — active" : ""}`;
      return li;
    }),
  );
  const list = await call("GET", "/api/auth/sessions");
  sessions.replaceChildren(
    ...list.sessions.map((x) => {
      const tr = document.createElement("tr");
      tr.append(cell(x.deviceName + (x.current ? " (this browser)" : "")), cell(when(x.createdAt)), cell(when(x.lastUsedAt)));
      const td = document.createElement("td");
      if (!x.current) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "secondary";
        b.textContent = "Revoke";
        b.setAttribute("aria-label", `Revoke ${x.deviceName}`);
        b.addEventListener("click", () => act(() => call("DELETE", `/api/auth/sessions/${encodeURIComponent(x.id)}`)));
        td.append(b);
      }
      tr.append(td);
      return tr;
    }),
  );
  signOut.hidden = false;
}

async function act(fn) {
  error.hidden = true;
  try {
    await fn();
    await load();
  } catch (e) {
    if (e.message !== "signed out") {
      error.textContent = e.message;
      error.hidden = false;
    }
  }
}

signOut.addEventListener("click", async () => {
  await fetch("/api/auth/sign-out", { method: "POST" });
  location.replace("/pair");
});

act(async () => {});
