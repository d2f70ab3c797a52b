// /pair: redeem the one-time token from the URL fragment, then forget it. The fragment is never
// sent to the server by the browser; we remove it from the address bar and history at once so
// it cannot be copied, bookmarked or leak through a later Referer. `?next=` (a path on this
// origin, nothing else) is where to go once signed in: an app link that needed a sign-in first.
const status = document.getElementById("status");
const error = document.getElementById("error");
const form = document.getElementById("manual");
const input = document.getElementById("token");

function showError(message) {
  error.textContent = message;
  error.hidden = false;
  status.textContent = "";
  form.hidden = false;
  input.focus();
}

const asked = new URLSearchParams(location.search).get("next") ?? "/";
const next = asked.startsWith("/") && !asked.startsWith("//") && !asked.includes("\\") ? asked : "/";

function tokenFrom(text) {
  const t = text.trim();
  const m = /#token=([A-Za-z0-9_-]+)/.exec(t);
  return m ? m[1] : t;
}

async function redeem(token) {
  status.textContent = "Signing you in…";
  error.hidden = true;
  let response;
  try {
    response = await fetch("/api/auth/pair", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, client: "browser" }),
    });
  } catch {
    return showError("Could not reach the Warren server. Check your connection and try again.");
  }
  if (response.ok) {
    status.textContent = "Signed in.";
    location.replace(next);
    return;
  }
  let message = `The server answered ${response.status}.`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch {}
  showError(message.charAt(0).toUpperCase() + message.slice(1) + (message.endsWith(".") ? "" : "."));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenFrom(input.value);
  if (token) redeem(token);
});

// "Sign in with <provider>" when the server has one (GET /api/auth/oidc), above the pairing form.
// A button that navigates (not a form: the page's CSP form-action would stop the redirect to the
// provider). While the provider cannot be reached the button is off and says so.
async function offerProvider() {
  let oidc;
  try {
    const r = await fetch("/api/auth/oidc");
    oidc = r.ok ? await r.json() : null;
  } catch {
    return;
  }
  if (!oidc || !oidc.enabled) return;
  const box = document.createElement("div");
  box.id = "oidc";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = `Sign in with ${oidc.name}`;
  button.disabled = !oidc.ready;
  if (!oidc.ready) button.className = "secondary"; // reads as unavailable, not as the way in
  button.addEventListener("click", () => location.assign(`${oidc.startUrl}?next=${encodeURIComponent(next)}`));
  box.append(button);
  const note = document.createElement("p");
  note.className = "hint";
  note.id = "oidc-note";
  note.textContent = oidc.ready ? "Or use a pairing link:" : `${oidc.name} cannot be reached right now. Sign in with a pairing link, or reload this page to try again.`;
  box.append(note);
  form.before(box);
  if (oidc.ready) status.textContent = `Sign in with your ${oidc.name} account.`;
}

const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromUrl) {
  history.replaceState(null, "", location.pathname + location.search);
  redeem(fromUrl);
} else {
  fetch("/api/auth/session")
    .then((r) => (r.ok ? r.json() : { authenticated: false }))
    .then((s) => {
      if (s.authenticated) location.replace(next);
      else {
        status.textContent = "Paste the pairing link you were given.";
        form.hidden = false;
        input.focus();
        return offerProvider();
      }
    })
    .catch(() => showError("Could not reach the Warren server."));
}
