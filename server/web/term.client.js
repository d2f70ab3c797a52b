// /term/:hostId/:tid — xterm.js on our attach protocol (the same codec as the server and CLI).
// Browsers cannot put credentials on a WebSocket, so each connection first asks for a one-time
// ticket (the session cookie authenticates that request). On a dropped connection it reconnects
// and resumes from the last byte it showed; a fresh page (or a reload) gets the whole history on
// its empty screen. When the program ends, the page says so.
import { Terminal } from "/assets/xterm.mjs";
import { FitAddon } from "/assets/addon-fit.mjs";
import { ACK_EVERY, encode, parseServer } from "/assets/protocol.js";

const [, , hostId, tid] = location.pathname.split("/").map(decodeURIComponent);
const state = document.getElementById("state");
const banner = document.getElementById("banner");
document.getElementById("title").textContent = tid;

// xterm's DOM renderer clips every row to its cell box and draws box-drawing characters with the
// font, so: line height 1 (more leaves gaps in │ between rows), and 15 px, where DejaVu Sans Mono
// (Debian's monospace) rounds its cell up to hold the underscore; at 14 px the cell rounds down
// and `snake_case` showed as `snake case`. tests/term-page.test.ts checks the pixels at 1x and 2x.
const term = new Terminal({
  cursorBlink: true,
  fontFamily: '"DejaVu Sans Mono", "Noto Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
  fontSize: 15,
  lineHeight: 1,
  scrollback: 5000,
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById("terminal"));
fit.fit();
term.focus();

let offset; // absolute offset of the next byte, once the server's hello has told us where we are
let acked = 0;
let ws;
let live = false; // this connection's hello has arrived: input can go straight out
let ended = false;
let writable = true; // until a hello says otherwise; view-only pages drop what was typed
let retry = 0;
const encoder = new TextEncoder();

// Typing while the connection is down is held and sent once it is back (a blip should not eat
// keystrokes), up to HELD_MAX; past that input is paused and the banner says so.
const HELD_MAX = 64 * 1024;
let held = [];
let heldBytes = 0;
let full = false;

function show(text, cls = "") {
  state.textContent = text;
  state.className = cls;
}

function offline(on) {
  document.body.classList.toggle("offline", on);
  banner.hidden = !on;
  if (on)
    banner.textContent = full
      ? "Connection lost; reconnecting. Input paused: 64 KiB is held, more typing is dropped."
      : "Connection lost; reconnecting. What you type is held and sent when it is back.";
}

function drop() {
  held = [];
  heldBytes = 0;
  full = false;
}

function input(bytes) {
  if (ended || !writable) return;
  if (live && ws.readyState === WebSocket.OPEN) return ws.send(bytes);
  if (heldBytes + bytes.length > HELD_MAX) {
    full = true;
    if (!banner.hidden) offline(true); // now it says input is paused
    return;
  }
  held.push(bytes);
  heldBytes += bytes.length;
}

async function connect() {
  show(retry ? "Reconnecting…" : "Connecting…");
  let r;
  try {
    r = await fetch("/api/ws-ticket", { method: "POST" });
  } catch {
    return later();
  }
  // Signed out: sign in, then come back here.
  if (r.status === 401) return location.replace(`/pair?${new URLSearchParams({ next: location.pathname })}`);
  if (!r.ok) return stop(`Cannot connect (${r.status}).`, "error");
  const { ticket } = await r.json();
  const q = new URLSearchParams({ ticket, cols: String(term.cols), rows: String(term.rows) });
  if (offset !== undefined) q.set("since", String(offset));
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/hosts/${encodeURIComponent(hostId)}/terminals/${encodeURIComponent(tid)}/attach?${q}`);
  ws.binaryType = "arraybuffer";
  let opened = false;
  ws.onopen = () => {
    opened = true;
    retry = 0;
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== "string") {
      const bytes = new Uint8Array(e.data);
      // Count a byte as ours once xterm has processed it: that is what we ack and resume from.
      term.write(bytes, () => {
        offset += bytes.length;
        if (offset - acked >= ACK_EVERY) {
          acked = offset;
          if (ws.readyState === WebSocket.OPEN) ws.send(encode({ type: "ack", offset }));
        }
      });
      return;
    }
    const m = parseServer(e.data);
    if (!m) return;
    if (m.type === "hello" || m.type === "reset") {
      if (offset !== undefined && m.offset !== offset) term.reset();
      offset = acked = m.offset;
      if (m.type === "hello") {
        writable = m.writable;
        live = true;
        offline(false);
        show(writable ? "Connected" : "Connected (view only)", "live");
        if (writable && (m.cols !== term.cols || m.rows !== term.rows)) ws.send(encode({ type: "resize", cols: term.cols, rows: term.rows }));
        if (writable) for (const bytes of held) ws.send(bytes);
        drop();
      }
    } else if (m.type === "exit") {
      stop(m.signal ? `Session ended (${m.signal})` : `Session ended (exit code ${m.code})`, "ended");
    }
  };
  ws.onclose = async () => {
    live = false;
    if (ended) return;
    if (!opened) {
      const list = await fetch(`/api/hosts/${encodeURIComponent(hostId)}/terminals`).catch(() => null);
      if (list?.ok && !(await list.json()).terminals.some((t) => t.id === tid)) return stop("No such terminal (it may have ended long ago).", "error");
      if (list?.status === 404) return stop("No such host.", "error");
    }
    later();
  };
}

/** A final state: nothing more will be sent, so nothing stays held. */
function stop(text, cls) {
  ended = true;
  drop();
  offline(false);
  show(text, cls);
}

function later() {
  const wait = Math.min(10_000, 500 * 2 ** retry++) * (0.75 + Math.random() / 2);
  show("Reconnecting…", "error");
  offline(true);
  setTimeout(connect, wait);
}

// The extra-keys bar (shown on touch screens by term.css): keys a soft keyboard lacks. Ctrl is
// sticky — it turns the next typed letter into its control character (Ctrl then c sends ^C).
const ctrl = document.getElementById("ctrl");
const KEYS = { esc: "\x1b", tab: "\t" };
const ARROWS = { up: "A", down: "B", right: "C", left: "D" };
function setCtrl(on) {
  ctrl.setAttribute("aria-pressed", String(on));
}
// Keep focus (and so the soft keyboard) on the terminal when a key is pressed.
document.getElementById("keys").addEventListener("mousedown", (e) => e.preventDefault());
document.getElementById("keys").addEventListener("click", (e) => {
  const key = e.target.closest("button")?.dataset.key;
  if (!key) return;
  if (key === "ctrl") setCtrl(ctrl.getAttribute("aria-pressed") !== "true");
  else {
    setCtrl(false);
    // Arrows follow the program's cursor-key mode, as a real keyboard's do in xterm (vim, less).
    input(encoder.encode(KEYS[key] ?? (term.modes.applicationCursorKeysMode ? "\x1bO" : "\x1b[") + ARROWS[key]));
  }
  term.focus();
});

function typed(d) {
  if (ctrl.getAttribute("aria-pressed") === "true" && d.length === 1) {
    setCtrl(false);
    const c = d.toUpperCase().charCodeAt(0);
    // Ctrl+@ A-Z [ \ ] ^ _ are 0-31; Ctrl+space is NUL and Ctrl+? is DEL, as on a terminal.
    if (c >= 64 && c <= 95) d = String.fromCharCode(c - 64);
    else if (d === " ") d = "\0";
    else if (d === "?") d = "\x7f";
  }
  input(encoder.encode(d));
}

term.onData(typed);
term.onBinary((d) => input(Uint8Array.from(d, (c) => c.charCodeAt(0))));
term.onResize(({ cols, rows }) => writable && live && ws.readyState === WebSocket.OPEN && ws.send(encode({ type: "resize", cols, rows })));
new ResizeObserver(() => fit.fit()).observe(document.getElementById("terminal"));

connect();
