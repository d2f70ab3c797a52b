// One-time pairing links (SPEC §2.2): minted for the owner on first start, by `warren pair`, and
// through POST /api/auth/pairing-links. The token travels only in the URL fragment, which
// browsers never send to a server, so it cannot land in anyone's access log.
import type { AuthStore, NewPairing } from "./store";
import { hashToken, newId, newPairingToken } from "./tokens";

export const PAIRING_TTL_SECONDS = 300;
/** A seeded --bootstrap-token is for scripts and desktop wrappers that start the server first. */
export const BOOTSTRAP_TTL_SECONDS = 3600;

export interface Minted {
  token: string;
  expiresAt: Date;
}

export const pairingUrl = (base: string, token: string) => `${base}/pair#token=${token}`;

export async function mintPairing(
  store: AuthStore,
  p: Omit<NewPairing, "tokenHash" | "expiresAt"> & { ttlSeconds: number },
  now = new Date(),
): Promise<Minted> {
  const token = newPairingToken();
  const expiresAt = new Date(now.getTime() + p.ttlSeconds * 1000);
  await store.addPairing({ tokenHash: hashToken(token), userId: p.userId, invite: p.invite, uses: p.uses, createdBy: p.createdBy, expiresAt }, now);
  return { token, expiresAt };
}

/**
 * On an empty database: the owner, their organization and one pairing token. Returns null when
 * the database already has users — also when another replica bootstrapped it a moment earlier.
 */
export async function bootstrapOwner(store: AuthStore, seeded?: string, now = new Date()): Promise<Minted | null> {
  if ((await store.userCount()) > 0) return null;
  const token = seeded ?? newPairingToken();
  const expiresAt = new Date(now.getTime() + (seeded ? BOOTSTRAP_TTL_SECONDS : PAIRING_TTL_SECONDS) * 1000);
  try {
    await store.createOwner(
      {
        userId: newId("usr"),
        orgId: newId("org"),
        pairing: { tokenHash: hashToken(token), userId: null, invite: null, uses: 1, createdBy: null, expiresAt },
      },
      now,
    );
  } catch (e) {
    if ((await store.userCount()) > 0) return null; // lost the race to another starter: fine
    throw e;
  }
  return { token, expiresAt };
}
