/**
 * Access tokens: short-lived JWTs (HS256 only, via jose) that name the user, the session and the
 * user's token version. Refresh tokens and API tokens are opaque random strings stored hashed,
 * each with its own prefix, so one kind is never taken for another.
 */
import { createHash, randomBytes, webcrypto } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { UpdraftError } from "../errors/index.js";

export const ISSUER = "updraft";
export const AUDIENCE = "updraft-api";
const ACCESS_TYPE = "access";
export const REFRESH_PREFIX = "updr_";
export const API_TOKEN_PREFIX = "upd_";

export interface AccessClaims {
  userId: number;
  sessionId: number;
  version: number;
}

/** The signing key from configuration: 32 bytes or more, as base64 or hex. */
export function parseSigningKey(text: string | null, source = "UPDRAFT_JWT_SECRET"): Uint8Array {
  if (!text) {
    throw new UpdraftError("UPDRAFT_E_SIGNING_KEY", `${source} is not set: the API server needs a key to sign access tokens`, {
      hint: "set it to 32 random bytes, e.g. `export UPDRAFT_JWT_SECRET=$(openssl rand -base64 32)` (standalone makes one in UPDRAFT_HOME)",
    });
  }
  const trimmed = text.trim();
  const key = /^[0-9a-f]+$/i.test(trimmed) && trimmed.length % 2 === 0 ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
  if (key.length < 32 || new Set(key).size < 8) {
    throw new UpdraftError("UPDRAFT_E_SIGNING_KEY", `${source} is too weak: it must hold at least 32 random bytes (base64 or hex)`, {
      hint: "`openssl rand -base64 32` makes one",
    });
  }
  return new Uint8Array(key);
}

export function generateSigningKey(): string {
  return randomBytes(32).toString("base64");
}

export async function issueAccessToken(key: Uint8Array, claims: AccessClaims, ttlMs: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ typ: ACCESS_TYPE, sid: claims.sessionId, ver: claims.version })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(String(claims.userId))
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + Math.max(1, Math.round(ttlMs / 1000)))
    .setJti(randomBytes(12).toString("base64url"))
    .sign(await hmacKey(key));
}

/** The claims of a valid access token; UPDRAFT_E_TOKEN_INVALID for anything else. */
export async function verifyAccessToken(key: Uint8Array, token: string): Promise<AccessClaims> {
  try {
    const { payload } = await jwtVerify(token, await hmacKey(key), {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: AUDIENCE,
      requiredClaims: ["exp", "nbf", "sub"],
      clockTolerance: 5,
    });
    const userId = Number(payload.sub);
    if (payload.typ !== ACCESS_TYPE || !Number.isInteger(userId) || !Number.isInteger(payload.sid) || !Number.isInteger(payload.ver)) {
      throw new Error("not an access token");
    }
    return { userId, sessionId: payload.sid as number, version: payload.ver as number };
  } catch (error) {
    const expired = error instanceof joseErrors.JWTExpired;
    throw new UpdraftError("UPDRAFT_E_TOKEN_INVALID", expired ? "the access token has expired" : "the access token is not valid", {
      hint: expired ? "get a new one with POST /api/v1/auth/refresh" : "log in again with POST /api/v1/auth/login",
    });
  }
}

/**
 * Try tokens: what a worker carries for one try, from the broker message to the execution API.
 * A JWT of its own type and audience (never taken for an access token, nor one for it), whose
 * subject is the try id; it expires with the try (its execution timeout plus a grace).
 */
export const EXECUTION_AUDIENCE = "updraft-execution";
const TRY_TYPE = "try";

/**
 * What a try token allows: `start` (the broker message's: starting the try, nothing else) or
 * `run` (what the start answers to the one that started it: everything else of that try).
 */
export type TryScope = "start" | "run";

/** A run token outlives its try's execution timeout by this much. */
export const TOKEN_GRACE_MS = 60 * 60_000;
/** The run token of a try without an execution timeout lasts this long (its heartbeats do not extend it yet). */
export const TOKEN_WITHOUT_TIMEOUT_MS = 24 * 60 * 60_000;
/** A start token (in a broker message) lasts this long: a message may wait in its queue. */
export const START_TOKEN_TTL_MS = 7 * 24 * 60 * 60_000;

/**
 * The signing key as a WebCrypto key, imported once: handed raw bytes, jose imports them again at
 * every token, which cost a try more than the rest of its tokens' work (5 tokens a remote try).
 */
const imported = new WeakMap<Uint8Array, Promise<webcrypto.CryptoKey>>();
function hmacKey(key: Uint8Array): Promise<webcrypto.CryptoKey> {
  let k = imported.get(key);
  if (!k) {
    k = webcrypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    imported.set(key, k);
  }
  return k;
}

export async function issueTryToken(key: Uint8Array, tryId: string, ttlMs: number, scope: TryScope = "run"): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ typ: TRY_TYPE, scope })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(tryId)
    .setIssuer(ISSUER)
    .setAudience(EXECUTION_AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + Math.max(1, Math.round(ttlMs / 1000)))
    .sign(await hmacKey(key));
}

/** The try id, scope and expiry (ms) of a valid try token; UPDRAFT_E_TOKEN_INVALID for anything else. */
export async function verifyTryToken(key: Uint8Array, token: string): Promise<{ tryId: string; scope: TryScope; expiresAt: number }> {
  try {
    const { payload } = await jwtVerify(token, await hmacKey(key), {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: EXECUTION_AUDIENCE,
      requiredClaims: ["exp", "nbf", "sub"],
      clockTolerance: 5,
    });
    if (payload.typ !== TRY_TYPE || typeof payload.sub !== "string" || (payload.scope !== "start" && payload.scope !== "run")) throw new Error("not a try token");
    return { tryId: payload.sub, scope: payload.scope, expiresAt: payload.exp! * 1000 };
  } catch (error) {
    const expired = error instanceof joseErrors.JWTExpired;
    throw new UpdraftError("UPDRAFT_E_TOKEN_INVALID", expired ? "the try token has expired" : "the try token is not valid", {
      hint: expired ? "the try outlived its execution timeout and grace; the scheduler retries it" : "a try token comes with the try's broker message, signed by the scheduler",
    });
  }
}

/** An opaque token (refresh or API token): the secret shown once, and the hash stored. */
export function newOpaqueToken(prefix: string): { token: string; hash: string } {
  const token = `${prefix}${randomBytes(32).toString("base64url")}`;
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
