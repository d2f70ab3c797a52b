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
document.getElementById("title").textContent = tid;

const term = new Terminal({ cursorBlink: true, fontFamily: "ui-monospace, Menlo, Consolas, monospace", fontSize: 14, scrollback: 5000 });
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById("terminal"));
fit.fit();
term.focus();

let offset; // absolute offset of the next byte, once the server's hello has told us where we are
let acked = 0;
let ws;
let ended = false;
let writable = false;
let retry = 0;
const encoder = new TextEncoder();

function show(text, cls = "") {
  state.textContent = text;
  state.className = cls;
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
  if (!r.ok) return show(`Cannot connect (${r.status}).`, "error");
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
        show(writable ? "Connected" : "Connected (view only)");
        if (writable && (m.cols !== term.cols || m.rows !== term.rows)) ws.send(encode({ type: "resize", cols: term.cols, rows: term.rows }));
      }
    } else if (m.type === "exit") {
      ended = true;
      show(m.signal ? `Session ended (${m.signal})` : `Session ended (exit code ${m.code})`, "ended");
    }
  };
  ws.onclose = async () => {
    if (ended) return;
    if (!opened) {
      const list = await fetch(`/api/hosts/${encodeURIComponent(hostId)}/terminals`).catch(() => null);
      if (list?.ok && !(await list.json()).terminals.some((t) => t.id === tid)) return show("No such terminal (it may have ended long ago).", "error");
      if (list?.status === 404) return show("No such host.", "error");
    }
    later();
  };
}

function later() {
  const wait = Math.min(10_000, 500 * 2 ** retry++) * (0.75 + Math.random() / 2);
  show("Disconnected; reconnecting…", "error");
  setTimeout(connect, wait);
}

term.onData((d) => writable && ws?.readyState === WebSocket.OPEN && ws.send(encoder.encode(d)));
term.onBinary((d) => writable && ws?.readyState === WebSocket.OPEN && ws.send(Uint8Array.from(d, (c) => c.charCodeAt(0))));
term.onResize(({ cols, rows }) => writable && ws?.readyState === WebSocket.OPEN && ws.send(encode({ type: "resize", cols, rows })));
new ResizeObserver(() => fit.fit()).observe(document.getElementById("terminal"));

connect();
