// API keys and host JWTs (SPEC §2.3, §2.4 rules 2, 3, 10, 11, 12): each test tries to break one.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT, generateKeyPair, decodeProtectedHeader, decodeJwt } from "jose";
import { api, AS_PROXY, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, query, runWarren, startServer, tempDir, waitUntil, type TestServer } from "./harness";
import { authStore, Jwts } from "../server/auth";
import { openDatabase } from "../server/db";
import { serverSecret } from "../server/datadir";

afterAll(cleanup);

type Key = { id: string; key: string; prefix: string; organizationId: string };
type Me = { method: string; organizations: { id: string; slug: string }[]; activeOrganizationId: string; apiKey?: { id: string; prefix: string } };

describe(`API keys and JWTs (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  const orgs: Record<string, string> = {};
  let key: Key;

  beforeAll(async () => {
    // A 1 s JWKS cache lifetime: a rotated key waits 6 s, not 65, before it signs.
    s = await startServer({ args: [...AS_PROXY, "--jwks-max-age", "1s"] });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    orgs.first = (await json<Me>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    for (const slug of ["middle", "newest"]) {
      orgs[slug] = (await json<{ id: string }>(api(s, owner)("POST", "/api/orgs", { name: slug, slug }))).id;
    }
    key = await json<Key>(api(s, owner)("POST", "/api/api-keys", { name: "ci", organizationId: orgs.middle }));
    issued.push(key.key);
  });
  afterAll(() => s.stop());

  const withKey = (k: string, shape: "x-api-key" | "bearer" = "x-api-key") =>
    api(s, null, shape === "x-api-key" ? { "x-api-key": k } : { authorization: `Bearer ${k}` });

  test("a key is sk_live_ + 43 chars, shown once, listed by prefix only", async () => {
    expect(key.key).toMatch(/^sk_live_[A-Za-z0-9_-]{43}$/);
    expect(key.prefix).toBe(key.key.slice(8, 16));
    const list = await json<{ keys: Record<string, unknown>[] }>(api(s, owner)("GET", "/api/api-keys"));
    expect(JSON.stringify(list)).not.toContain(key.key);
    expect(list.keys.find((k) => k.id === key.id)).toMatchObject({ prefix: key.prefix, organizationId: orgs.middle, enabled: true });
    const rows = JSON.stringify(await query(s, "SELECT * FROM api_keys"));
    expect(rows).not.toContain(key.key);
  });

  test("both header shapes work; the key acts in its bound org only (the middle of three)", async () => {
    for (const shape of ["x-api-key", "bearer"] as const) {
      const me = await json<Me>(withKey(key.key, shape)("GET", "/api/auth/session"));
      expect(me.method).toBe("api-key");
      expect(me.activeOrganizationId).toBe(orgs.middle!);
      expect(me.organizations.map((o) => o.id)).toEqual([orgs.middle!]);
      expect(me.apiKey).toMatchObject({ id: key.id, prefix: key.prefix });
    }
    expect((await withKey(key.key)("GET", `/api/orgs/${orgs.middle}/members`)).status).toBe(200);
    for (const other of [orgs.first, orgs.newest, "org_doesnotexist"]) {
      const r = await withKey(key.key)("GET", `/api/orgs/${other}/members`);
      expect(r.status).toBe(403);
      expect(await r.json()).toMatchObject({ error: { code: "outside_scope" } });
    }
  });

  test("a key in a query string is not a credential", async () => {
    for (const q of [`?api_key=${key.key}`, `?key=${key.key}`, `?token=${key.key}`]) {
      expect((await fetch(`${s.url}/api/orgs${q}`)).status).toBe(401);
    }
  });

  test("warren auth check with WARREN_API_KEY (and --api-key) reports the key's org, user and that it is a key", async () => {
    const home = tempDir(); // no stored session there
    const r = await runWarren(["auth", "check", "--server", s.url], { env: { WARREN_HOME: home, WARREN_API_KEY: key.key } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`API key "ci" (sk_live_${key.prefix}…`);
    expect(r.stdout).toContain("org:     middle");
    expect(r.stdout).not.toContain("org:     default");
    expect(r.stdout).toContain("user:    Owner");
    const j = await runWarren(["auth", "check", "--json", "--server", s.url, "--api-key", key.key], { env: { WARREN_HOME: home } });
    expect(JSON.parse(j.stdout)).toMatchObject({ method: "api-key", activeOrganizationId: orgs.middle });
  });

  test("rule 10: a key cannot mint keys, pairing links or orgs, nor manage members, nor list sessions", async () => {
    const k = withKey(key.key);
    const attempts: [string, string, unknown?][] = [
      ["POST", "/api/api-keys", { name: "more", organizationId: orgs.middle }],
      ["GET", "/api/api-keys"],
      ["POST", "/api/auth/pairing-links", {}],
      ["POST", "/api/auth/pairing-links", { invite: { email: "x@example.com", organizationId: orgs.middle, role: "owner" } }],
      ["POST", "/api/orgs", { name: "Mine", slug: "mine" }],
      ["POST", `/api/orgs/${orgs.middle}/members`, { userId: "usr_x", role: "admin" }],
      ["PATCH", `/api/orgs/${orgs.middle}/members/usr_x`, { role: "owner" }],
      ["GET", "/api/auth/sessions"],
      ["PATCH", `/api/api-keys/${key.id}`, { enabled: true }],
    ];
    for (const [method, path, body] of attempts) {
      const r = await k(method, path, body);
      expect([method, path, r.status]).toEqual([method, path, 403]);
    }
  });

  test("binding rewrite → 400 immutable_binding; name and enabled change; disabled → 401", async () => {
    const k = await json<Key>(api(s, owner)("POST", "/api/api-keys", { name: "temp", organizationId: orgs.first }));
    issued.push(k.key);
    for (const body of [{ organizationId: orgs.middle }, { name: "x", organizationId: orgs.middle }, { userId: "usr_x" }, { prefix: "AAAAAAAA" }, { metadata: { a: 1 } }, { expiresAt: null }]) {
      const r = await api(s, owner)("PATCH", `/api/api-keys/${k.id}`, body);
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: { code: "immutable_binding" } });
    }
    expect((await json<{ organizationId: string }>(api(s, owner)("PATCH", `/api/api-keys/${k.id}`, { name: "renamed" }))).organizationId).toBe(orgs.first!);
    expect((await withKey(k.key)("GET", "/api/orgs")).status).toBe(200);
    expect((await api(s, owner)("PATCH", `/api/api-keys/${k.id}`, { enabled: false })).status).toBe(200);
    expect((await withKey(k.key)("GET", "/api/orgs")).status).toBe(401);
    expect((await api(s, owner)("PATCH", `/api/api-keys/${k.id}`, { enabled: true })).status).toBe(200);
    expect((await withKey(k.key)("GET", "/api/orgs")).status).toBe(200);
    expect((await api(s, owner)("DELETE", `/api/api-keys/${k.id}`)).status).toBe(204);
    expect((await withKey(k.key)("GET", "/api/orgs")).status).toBe(401);
  });

  test("the creator must be a member of the org; expired keys → 401", async () => {
    expect((await api(s, owner)("POST", "/api/api-keys", { name: "x", organizationId: "org_notmine" })).status).toBe(404);
    const k = await json<Key>(api(s, owner)("POST", "/api/api-keys", { name: "short", organizationId: orgs.first, expiresInDays: 1 }));
    issued.push(k.key);
    expect((await withKey(k.key)("GET", "/api/orgs")).status).toBe(200);
    await query(s, `UPDATE api_keys SET expires_at = ${DIALECT === "pg" ? "now() - interval '1 second'" : String(Date.now() - 1000)} WHERE id = '${k.id}'`);
    await Bun.sleep(2100); // past the resolver's cache
    expect((await withKey(k.key)("GET", "/api/orgs")).status).toBe(401);
  });

  test("rule 2: remove the key's user from its org → 403 at once; add them back → works again", async () => {
    const admin = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "kim@example.com", organizationId: orgs.middle, role: "admin" } }));
    const k = await json<Key>(api(s, admin)("POST", "/api/api-keys", { name: "kim", organizationId: orgs.middle }));
    issued.push(k.key);
    const kimId = (await json<Me & { user: { id: string } }>(api(s, admin)("GET", "/api/auth/session"))).user.id;
    expect((await withKey(k.key)("GET", "/api/orgs")).status).toBe(200);
    expect((await api(s, owner)("DELETE", `/api/orgs/${orgs.middle}/members/${kimId}`)).status).toBe(204);
    const r = await withKey(k.key)("GET", "/api/orgs");
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: { code: "not_a_member" } });
    expect((await api(s, owner)("POST", `/api/orgs/${orgs.middle}/members`, { userId: kimId, role: "member" })).status).toBe(201);
    expect((await withKey(k.key)("GET", "/api/orgs")).status).toBe(200);
  });

  test("rule 12: no per-key request cap", async () => {
    const rs = await Promise.all(Array.from({ length: 200 }, () => withKey(key.key)("GET", "/api/orgs")));
    expect(rs.every((r) => r.status === 200)).toBe(true);
  });

  test("lastUsedAt is written, at most once a minute", async () => {
    const k = await json<Key>(api(s, owner)("POST", "/api/api-keys", { name: "touch", organizationId: orgs.first }));
    issued.push(k.key);
    await withKey(k.key)("GET", "/api/orgs");
    const first = (await json<{ keys: { id: string; lastUsedAt: string | null }[] }>(api(s, owner)("GET", "/api/api-keys"))).keys.find((x) => x.id === k.id)!.lastUsedAt;
    expect(first).not.toBeNull();
    await Bun.sleep(2100);
    await withKey(k.key)("GET", "/api/orgs");
    const second = (await json<{ keys: { id: string; lastUsedAt: string | null }[] }>(api(s, owner)("GET", "/api/api-keys"))).keys.find((x) => x.id === k.id)!.lastUsedAt;
    expect(second).toBe(first);
  });

  describe("JWTs", () => {
    let jwt = "";
    beforeAll(async () => {
      jwt = (await json<{ token: string }>(withKey(key.key)("GET", "/api/auth/token"))).token;
      issued.push(jwt);
    });
    const withJwt = (t: string) => api(s, t);

    test("rule 3: a key's JWT is EdDSA with a kid, 15 minutes, and carries exactly the key's org", async () => {
      const header = decodeProtectedHeader(jwt);
      expect(header).toMatchObject({ alg: "EdDSA", typ: "JWT" });
      const jwks = await json<{ keys: { kid: string; crv: string; kty: string; d?: string }[] }>(fetch(`${s.url}/api/auth/jwks`));
      expect(jwks.keys.map((k) => k.kid)).toContain(header.kid!);
      expect(jwks.keys.every((k) => k.crv === "Ed25519" && k.kty === "OKP" && k.d === undefined)).toBe(true);
      const claims = decodeJwt(jwt);
      expect(claims).toMatchObject({ orgs: [orgs.middle], aud: "warren" });
      // No --public-url: the issuer is the installation, the same on every replica of its database.
      expect(claims.iss).toMatch(/^urn:warren:[0-9a-f]{32}$/);
      expect(claims.exp! - claims.iat!).toBe(900);
      const me = await json<Me>(withJwt(jwt)("GET", "/api/auth/session"));
      expect(me.method).toBe("jwt");
      expect(me.organizations.map((o) => o.id)).toEqual([orgs.middle!]);
      const other = await withJwt(jwt)("GET", `/api/orgs/${orgs.first}/members`);
      expect(other.status).toBe(403);
      expect((await withJwt(jwt)("GET", `/api/orgs/${orgs.middle}/members`)).status).toBe(200);
    });

    test("a session's JWT carries all its orgs; a JWT cannot mint another or manage anything", async () => {
      const t = (await json<{ token: string }>(api(s, owner)("GET", "/api/auth/token"))).token;
      issued.push(t);
      expect((decodeJwt(t).orgs as string[]).sort()).toEqual(Object.values(orgs).sort());
      expect((await withJwt(jwt)("GET", "/api/auth/token")).status).toBe(403);
      expect((await withJwt(jwt)("POST", "/api/api-keys", { name: "x", organizationId: orgs.middle })).status).toBe(403);
      expect((await withJwt(jwt)("POST", "/api/auth/pairing-links", {})).status).toBe(403);
    });

    test("rule 11: alg none, HS256 with the public key, wrong iss/aud, expired, unknown kid, tampered → 401", async () => {
      const header = decodeProtectedHeader(jwt);
      const claims = decodeJwt(jwt);
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const [h, p, sig] = jwt.split(".");
      const jwks = await json<{ keys: { kid: string; x: string }[] }>(fetch(`${s.url}/api/auth/jwks`));
      const publicX = Buffer.from(jwks.keys.find((k) => k.kid === header.kid)!.x, "base64url");
      const { privateKey: foreign } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      const signForeign = (payload: Record<string, unknown>, kid = header.kid!) =>
        new SignJWT(payload).setProtectedHeader({ alg: "EdDSA", kid }).sign(foreign);
      const hs256 = await new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS256", kid: header.kid! }).sign(publicX);
      const attacks: [string, string][] = [
        ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${p}.`],
        ["alg none, kid kept", `${b64({ alg: "none", kid: header.kid })}.${p}.`],
        ["HS256 keyed with the public key", hs256],
        ["tampered payload", `${h}.${b64({ ...claims, orgs: Object.values(orgs) })}.${sig}`],
        ["tampered signature", `${h}.${p}.${sig!.slice(0, -4)}AAAA`],
        ["signature removed", `${h}.${p}.`],
        ["foreign key, our kid", await signForeign({ ...claims })],
        ["unknown kid", await signForeign({ ...claims }, "kid_nope")],
        ["wrong iss", await signForeign({ ...claims, iss: "https://evil.example" })],
        ["wrong aud, foreign key", await signForeign({ ...claims, aud: "someone-else" })],
        ["garbage", "eyJ.eyJ.x"],
      ];
      for (const [what, token] of attacks) {
        const r = await withJwt(token)("GET", "/api/orgs");
        expect([what, r.status]).toEqual([what, 401]);
        expect(await r.text()).not.toContain(token.slice(0, 30));
      }
    });

    test("signed with the server's real key but expired, or for another issuer → 401", async () => {
      // The server's own signer, on its database and secret: real keys, chosen claims.
      const db = await openDatabase({ dataDir: s.dataDir, databaseUrl: s.databaseUrl });
      try {
        const secret = serverSecret(s.dataDir);
        const store = authStore(db);
        const real = new Jwts(store, secret, { sign: decodeJwt(jwt).iss!, accept: [] });
        await real.init();
        const claims = { sub: decodeJwt(jwt).sub!, orgs: [orgs.middle!] };
        const fresh = (await real.sign(claims)).token;
        expect((await withJwt(fresh)("GET", "/api/orgs")).status).toBe(200); // the control
        const expired = (await real.sign(claims, Date.now() - 16 * 60_000)).token;
        const elsewhere = new Jwts(store, secret, { sign: "https://other.example", accept: [] });
        await elsewhere.init();
        const wrongIss = (await elsewhere.sign(claims)).token;
        for (const t of [expired, wrongIss]) expect((await withJwt(t)("GET", "/api/orgs")).status).toBe(401);
        issued.push(fresh, expired, wrongIss);
      } finally {
        await db.close();
      }
    });

    test("keys rotate: the new key is published at once, signs after the JWKS cache lifetime; old tokens verify one lifetime more", async () => {
      const before = (await json<{ token: string }>(withKey(key.key)("GET", "/api/auth/token"))).token;
      issued.push(before);
      expect((await withJwt(before)("GET", "/api/orgs")).status).toBe(200);
      const oldKid = decodeProtectedHeader(before).kid!;
      const out = await runWarren(["keys", "rotate", "--data-dir", s.dataDir, ...(s.databaseUrl ? ["--database-url", s.databaseUrl] : [])]);
      expect(out.code).toBe(0);
      const newKid = /new signing key (\S+);/.exec(out.stdout)![1]!;
      const rotatedAt = Date.now();
      // Published at once (within the server's 5 s reload), while the old key still signs: a
      // verifier that fetched the JWKS before the rotation never meets the new kid unannounced.
      await waitUntil(async () => (await json<{ keys: { kid: string }[] }>(fetch(`${s.url}/api/auth/jwks`))).keys.some((k) => k.kid === newKid), 6_000, "the JWKS to publish the new key");
      const published = await fetch(`${s.url}/api/auth/jwks`);
      expect(published.headers.get("cache-control")).toBe("public, max-age=1");
      expect(published.headers.get("access-control-allow-origin")).toBe("*");
      const early = (await json<{ token: string }>(withKey(key.key)("GET", "/api/auth/token"))).token;
      if (Date.now() - rotatedAt < 5_000) expect(decodeProtectedHeader(early).kid).toBe(oldKid);
      // Then it signs with the new key; the old token still verifies.
      await waitUntil(async () => decodeProtectedHeader((await json<{ token: string }>(withKey(key.key)("GET", "/api/auth/token"))).token).kid === newKid, 15_000, "signing with the new key");
      expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual(5_000);
      await Bun.sleep(2100); // past the resolver's cache of the old token
      expect((await withJwt(before)("GET", "/api/orgs")).status).toBe(200);
      // One token lifetime after it stopped signing, the old key's tokens fail.
      await query(s, `UPDATE signing_keys SET retired_at = ${DIALECT === "pg" ? "now() - interval '16 minutes'" : String(Date.now() - 16 * 60_000)} WHERE kid <> '${newKid}'`);
      await waitUntil(async () => (await withJwt(before)("GET", "/api/orgs")).status === 401, 15_000, "the retired key's token to fail");
      const jwks = await json<{ keys: { kid: string }[] }>(fetch(`${s.url}/api/auth/jwks`));
      expect(jwks.keys.map((k) => k.kid)).toContain(newKid);
    }, 60_000);
  });
});
