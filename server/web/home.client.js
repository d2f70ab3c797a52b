// /: who you are and your organizations (the full dashboard grows here). Signed out → /pair.
const who = document.getElementById("who");
const orgs = document.getElementById("orgs");
const signOut = document.getElementById("sign-out");

async function load() {
  const r = await fetch("/api/auth/session");
  const s = r.ok ? await r.json() : { authenticated: false };
  if (!s.authenticated) return location.replace("/pair");
  who.textContent = `Signed in as ${s.user.name}${s.user.email ? ` <${s.user.email}>` : ""}.`;
  orgs.replaceChildren(
    ...s.organizations.map((o) => {
      const li = document.createElement("li");
      li.textContent = `${o.name} (${o.role})${o.id === s.activeOrganizationId ? " — active" : ""}`;
      return li;
    }),
  );
  signOut.hidden = false;
}

signOut.addEventListener("click", async () => {
  await fetch("/api/auth/sign-out", { method: "POST" });
  location.replace("/pair");
});

load().catch(() => (who.textContent = "Could not reach the Warren server."));
