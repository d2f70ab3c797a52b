// Credential formats (SPEC §2.2) and how they are stored: random, prefixed where SPEC says so,
// kept only as SHA-256. Looking a credential up by its hash never compares the secret itself.
import { randomBytes } from "node:crypto";

export const SESSION_PREFIX = "wss_";
export const API_KEY_PREFIX = "sk_live_";
const SESSION_RE = /^wss_[A-Za-z0-9_-]{43}$/;
const API_KEY_RE = /^sk_live_[A-Za-z0-9_-]{43}$/;
const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const PAIRING_RE = /^[A-Za-z0-9_-]{27,512}$/;

export const hashToken = (token: string): string => Bun.CryptoHasher.hash("sha256", token, "base64url") as string;

export const newApiKey = () => API_KEY_PREFIX + randomBytes(32).toString("base64url");
/** What people see of a key: enough to tell keys apart, far too little to use. */
export const apiKeyPrefix = (key: string) => key.slice(API_KEY_PREFIX.length, API_KEY_PREFIX.length + 8);
export const newSessionToken = () => SESSION_PREFIX + randomBytes(32).toString("base64url");
export const newPairingToken = () => randomBytes(24).toString("base64url");
export const newTicket = () => randomBytes(32).toString("base64url");

/** Ids are unguessable too: knowing one must not help to find another. */
export const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString("base64url")}`;

export const looksLikeSessionToken = (t: string) => SESSION_RE.test(t);
export const looksLikeApiKey = (t: string) => API_KEY_RE.test(t);
export const looksLikeJwt = (t: string) => JWT_RE.test(t);
export const looksLikePairingToken = (t: string) => PAIRING_RE.test(t);
