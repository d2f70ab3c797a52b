// TLS served by Warren itself, with certificates made here by openssl: clients connect with
// verification on; SIGHUP swaps in a renewed certificate for new connections while a WebSocket
// opened before goes on; over TLS cookies are __Host- and Secure and a network bind needs no
// proxy. A broken pair is refused at start, and at reload leaves the old certificate in place.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import tls from "node:tls";
import { join } from "node:path";
import { issued, printedPairingToken } from "./auth-helpers";
import { cleanup, DIALECT, runWarren, startServer, tempDir, waitUntil } from "./harness";

afterAll(cleanup);

/** A self-signed certificate for 127.0.0.1 and localhost: its own CA, as a test trusts it. */
function certificate(dir: string, name: string): { cert: string; key: string; pem: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const p = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`openssl failed: ${p.stderr.toString()}`);
  return { cert, key, pem: readFileSync(cert, "utf8") };
}

/** The certificate a fresh TLS connection is served, by its CN. */
const servedCn = (url: string) =>
  new Promise<string>((resolve, reject) => {
    const u = new URL(url);
    const c = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      resolve(c.getPeerCertificate().subject.CN as string);
      c.end();
    });
    c.on("error", reject);
  });

describe(`TLS built in (${DIALECT})`, () => {
  const dir = tempDir("warren-tls-");
  const a = certificate(dir, "warren-a");
  const b = certificate(dir, "warren-b");
  // The files the server is given; a renewal writes new contents to the same paths.
  const live = { cert: join(dir, "live.crt"), key: join(dir, "live.key") };
  copyFileSync(a.cert, live.cert);
  copyFileSync(a.key, live.key);

  test("https with verification on; SIGHUP serves the renewed certificate to new connections and keeps the old ones", async () => {
    const s = await startServer({ args: ["--tls-cert", live.cert, "--tls-key", live.key] });
    expect(s.url).toStartWith("https://127.0.0.1:");
    const health = await fetch(`${s.url}/healthz`, { tls: { ca: a.pem } } as RequestInit);
    expect(health.status).toBe(200);
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow(); // not trusted without its CA
    // A cookie over TLS is __Host- and Secure, public URL or not.
    const token = printedPairingToken(s);
    expect(s.stdout()).toContain(`${s.url}/pair#token=`);
    const paired = await fetch(`${s.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json", origin: s.url }, body: JSON.stringify({ token, client: "browser" }), tls: { ca: a.pem } } as RequestInit);
    expect(paired.status).toBe(200);
    const cookie = paired.headers.get("set-cookie")!;
    expect(cookie).toStartWith("__Host-warren_session=");
    expect(cookie).toContain("; Secure");
    const session = cookie.split(";")[0]!;
    issued.push(session.split("=")[1]!);

    // A terminal client attached before the renewal stays attached through it.
    const { id } = (await (await fetch(`${s.url}/api/hosts/local/terminals`, { method: "POST", headers: { cookie: session, origin: s.url, "content-type": "application/json" }, body: JSON.stringify({ cmd: ["cat"] }), tls: { ca: a.pem } } as RequestInit)).json()) as { id: string };
    const ws = new WebSocket(`${s.url.replace(/^https/, "wss")}/api/hosts/local/terminals/${id}/attach`, { headers: { cookie: session, origin: s.url }, tls: { ca: a.pem } } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    let echoed = "";
    ws.onmessage = (e) => typeof e.data !== "string" && (echoed += new TextDecoder().decode(e.data as ArrayBuffer));
    await new Promise((r) => (ws.onopen = r));
    ws.send(new TextEncoder().encode("before\r"));
    await waitUntil(() => echoed.includes("before"), 10_000, "the echo before the renewal");

    expect(await servedCn(s.url)).toBe("warren-a");
    copyFileSync(b.cert, live.cert);
    copyFileSync(b.key, live.key);
    s.proc.kill("SIGHUP");
    await waitUntil(() => s.logs().some((l) => l.msg === "tls certificate reloaded"), 10_000, "the reload");
    expect(await servedCn(s.url)).toBe("warren-b");
    expect((await fetch(`${s.url}/healthz`, { tls: { ca: b.pem } } as RequestInit)).status).toBe(200);
    await expect(fetch(`${s.url}/healthz`, { tls: { ca: a.pem } } as RequestInit)).rejects.toThrow();
    ws.send(new TextEncoder().encode("after\r"));
    await waitUntil(() => echoed.includes("after"), 10_000, "the echo after the renewal, on the same socket");
    expect(ws.readyState).toBe(WebSocket.OPEN);

    // A broken renewal (a key that is not the certificate's) keeps the working certificate.
    copyFileSync(a.key, live.key);
    s.proc.kill("SIGHUP");
    await waitUntil(() => s.logs().some((l) => l.msg === "tls reload failed; still serving the previous certificate"), 10_000, "the refused reload");
    expect(await servedCn(s.url)).toBe("warren-b");
    ws.close();
    expect(await s.stop()).toBe(0);
  }, 60_000);

  test("on a network address TLS needs no proxy; a pair that does not match is refused at start", async () => {
    const s = await startServer({ args: ["--host", "0.0.0.0", "--tls-cert", a.cert, "--tls-key", a.key] });
    expect(s.url).toStartWith("https://");
    expect(s.stderr()).not.toContain("--insecure");
    expect(await s.stop()).toBe(0);
    const mismatched = await runWarren(["serve", "--port", "0", "--no-browser", "--data-dir", tempDir(), "--tls-cert", a.cert, "--tls-key", b.key]);
    expect(mismatched.code).toBe(1);
    expect(mismatched.stderr).toContain(`${b.key} is not the key of ${a.cert}`);
    const half = await runWarren(["serve", "--port", "0", "--no-browser", "--data-dir", tempDir(), "--tls-cert", a.cert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain("--tls-cert and --tls-key go together");
    writeFileSync(join(dir, "junk.crt"), "not a certificate");
    const junk = await runWarren(["serve", "--port", "0", "--no-browser", "--data-dir", tempDir(), "--tls-cert", join(dir, "junk.crt"), "--tls-key", a.key]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toContain("is not a PEM certificate");
  });
});
