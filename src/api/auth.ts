/**
 * Authentication: who a request comes from. Bearer tokens are either access tokens (JWTs naming
 * a live session and the user's current token version) or API tokens (opaque, stored hashed).
 * Refresh tokens are accepted only by the refresh route.
 */
import type { Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import { verifyPassword } from "../security/password.js";
import type { Principal } from "../security/rbac.js";
import { API_TOKEN_PREFIX, hashToken, issueAccessToken, newOpaqueToken, REFRESH_PREFIX, verifyAccessToken } from "../security/tokens.js";
import type { Store } from "../store/connect.js";
import { appendAuthChanged } from "../store/events.js";
import type { Database } from "../store/schema.js";
import { isStorageFull } from "../store/storage.js";
import { findUser, permissionsOf, rolesOf } from "../store/users.js";
import type { TokenPair } from "./models.js";

export interface AuthSettings {
  signingKey: Uint8Array;
  accessTtlMs: number;
  refreshTtlMs: number;
}

const unauthenticated = (message = "authentication is required") =>
  new UpdraftError("UPDRAFT_E_UNAUTHENTICATED", message, { hint: "send Authorization: Bearer <access token or API token>; POST /api/v1/auth/login gives one" });

async function principalOf(db: Kysely<Database>, userId: number, via: Principal["via"]): Promise<Principal> {
  const user = await findUser(db, { id: userId });
  if (!user || user.active !== 1) throw new UpdraftError("UPDRAFT_E_TOKEN_INVALID", "the token's user does not exist or is not active");
  const roles = (await rolesOf(db, [userId])).get(userId) ?? [];
  return { userId, username: user.username, roles: roles.map((r) => r.name), permissions: permissionsOf(roles), via };
}

/** The principal of an Authorization header value; throws 401 errors for anything invalid. */
export async function authenticate(db: Kysely<Database>, settings: AuthSettings, header: string | undefined): Promise<Principal> {
  if (!header) throw unauthenticated();
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthenticated("the Authorization header is not a Bearer token");
  const token = match[1]!;
  if (token.length > 4096) throw new UpdraftError("UPDRAFT_E_TOKEN_INVALID", "the token is not valid");
  if (token.startsWith(REFRESH_PREFIX)) {
    throw new UpdraftError("UPDRAFT_E_TOKEN_INVALID", "a refresh token is not an access token", { hint: "exchange it with POST /api/v1/auth/refresh" });
  }
  const now = Date.now();
  if (token.startsWith(API_TOKEN_PREFIX)) {
    const row = await db.selectFrom("api_token").select(["id", "user_id", "expires_at", "revoked_at"]).where("token_hash", "=", hashToken(token)).executeTakeFirst();
    if (!row || row.revoked_at !== null || row.expires_at <= now) throw new UpdraftError("UPDRAFT_E_TOKEN_INVALID", "the API token is not valid, revoked or expired");
    // Best effort: a token stays usable for reads while the database cannot store (a full disk).
    await db.updateTable("api_token").set({ last_used_at: now }).where("id", "=", row.id).execute().catch((error: unknown) => {
      if (!isStorageFull(error)) throw error;
    });
    return principalOf(db, row.user_id, "api_token");
  }
  const claims = await verifyAccessToken(settings.signingKey, token);
  const session = await db
    .selectFrom("auth_session as s")
    .innerJoin("app_user as u", "u.id", "s.user_id")
    .select(["s.revoked_at", "s.expires_at", "u.token_version", "u.active"])
    .where("s.id", "=", claims.sessionId)
    .where("s.user_id", "=", claims.userId)
    .executeTakeFirst();
  if (!session || session.revoked_at !== null || session.expires_at <= now || session.token_version !== claims.version || session.active !== 1) {
    throw new UpdraftError("UPDRAFT_E_TOKEN_INVALID", "the access token was revoked (logout, password change or role change)", { hint: "log in again" });
  }
  return principalOf(db, claims.userId, "session");
}

/** Checks a username and password; the same error whether the user exists or not. */
export async function login(db: Kysely<Database>, settings: AuthSettings, username: string, password: string, sourceIp: string): Promise<{ tokens: TokenPair; userId: number }> {
  const user = await findUser(db, { username });
  // Hash anyway when the user does not exist, so timing does not tell.
  const ok = await verifyPassword(password, user?.password_hash ?? "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  if (!user || !ok || user.active !== 1) {
    throw new UpdraftError("UPDRAFT_E_LOGIN_FAILED", "wrong username or password");
  }
  const now = Date.now();
  await db.updateTable("app_user").set({ last_login_at: now }).where("id", "=", user.id).execute();
  return { tokens: await openSession(db, settings, user.id, user.token_version, sourceIp), userId: user.id };
}

async function openSession(db: Kysely<Database>, settings: AuthSettings, userId: number, version: number, sourceIp: string): Promise<TokenPair> {
  const now = Date.now();
  const refresh = newOpaqueToken(REFRESH_PREFIX);
  const row = await db
    .insertInto("auth_session")
    .values({ user_id: userId, refresh_hash: refresh.hash, created_at: now, expires_at: now + settings.refreshTtlMs, prev_refresh_hash: null, revoked_at: null, source_ip: sourceIp })
    .returning("id")
    .executeTakeFirstOrThrow();
  const access = await issueAccessToken(settings.signingKey, { userId, sessionId: Number(row.id), version }, settings.accessTtlMs);
  return { access_token: access, refresh_token: refresh.token, token_type: "Bearer", expires_in: Math.round(settings.accessTtlMs / 1000) };
}

/**
 * A new access token for a refresh token. The refresh token is rotated: the old one stops
 * working. Presenting the token a session already replaced means it was copied (the
 * rightful client holds the newer one), so the whole session is revoked.
 */
export async function refresh(store: Store, settings: AuthSettings, refreshToken: string): Promise<{ tokens: TokenPair; userId: number }> {
  const db = store.db;
  const now = Date.now();
  const invalid = () => new UpdraftError("UPDRAFT_E_TOKEN_INVALID", "the refresh token is not valid, revoked or expired", { hint: "log in again" });
  if (!refreshToken.startsWith(REFRESH_PREFIX)) throw invalid();
  const hash = hashToken(refreshToken);
  const session = await db
    .selectFrom("auth_session as s")
    .innerJoin("app_user as u", "u.id", "s.user_id")
    .select(["s.id", "s.user_id", "s.expires_at", "s.revoked_at", "u.token_version", "u.active"])
    .where("s.refresh_hash", "=", hash)
    .executeTakeFirst();
  if (!session) {
    // A spent refresh token used again: its session ends, and so do the sockets it opened.
    await store.transaction(async (trx) => {
      const ended = await trx.updateTable("auth_session").set({ revoked_at: now }).where("prev_refresh_hash", "=", hash).where("revoked_at", "is", null).returning("user_id").execute();
      await appendAuthChanged(trx, store, ended.map((r) => Number(r.user_id)));
    });
    throw invalid();
  }
  if (session.revoked_at !== null || session.expires_at <= now || session.active !== 1) throw invalid();
  const next = newOpaqueToken(REFRESH_PREFIX);
  const rotated = await db
    .updateTable("auth_session")
    .set({ refresh_hash: next.hash, prev_refresh_hash: hash })
    .where("id", "=", session.id)
    .where("refresh_hash", "=", hash)
    .executeTakeFirst();
  if (Number(rotated.numUpdatedRows) !== 1) throw invalid();
  const access = await issueAccessToken(settings.signingKey, { userId: session.user_id, sessionId: session.id, version: session.token_version }, settings.accessTtlMs);
  return {
    tokens: { access_token: access, refresh_token: next.token, token_type: "Bearer", expires_in: Math.round(settings.accessTtlMs / 1000) },
    userId: session.user_id,
  };
}

/** Ends the session an access token or refresh token belongs to; its live sockets close. */
export async function logout(store: Store, settings: AuthSettings, header: string | undefined, refreshToken: string | undefined): Promise<void> {
  const now = Date.now();
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  const claims = match && !match[1]!.startsWith(API_TOKEN_PREFIX) && !match[1]!.startsWith(REFRESH_PREFIX) ? await verifyAccessToken(settings.signingKey, match[1]!) : null;
  await store.transaction(async (trx) => {
    const users: number[] = [];
    if (refreshToken) {
      const row = await trx.updateTable("auth_session").set({ revoked_at: now }).where("refresh_hash", "=", hashToken(refreshToken)).returning("user_id").executeTakeFirst();
      if (row) users.push(Number(row.user_id));
    }
    if (claims) {
      await trx.updateTable("auth_session").set({ revoked_at: now }).where("id", "=", claims.sessionId).where("user_id", "=", claims.userId).execute();
      users.push(claims.userId);
    }
    await appendAuthChanged(trx, store, users);
  });
}
