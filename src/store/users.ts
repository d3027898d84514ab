/** Users, roles, login sessions and API tokens. */
import type { Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import { BUILTIN_ROLES, isPermission, PERMISSIONS, type Permission } from "../security/rbac.js";
import { hashPassword } from "../security/password.js";
import { API_TOKEN_PREFIX, newOpaqueToken } from "../security/tokens.js";
import type { Store } from "./connect.js";
import { appendAuthChanged } from "./events.js";
import type { ApiTokenRow, Database, RoleRow, UserRow } from "./schema.js";

const USERNAME_RE = /^(?!\.+$)[A-Za-z0-9_.@-]{1,100}$/;
const ROLE_RE = /^(?![. ]+$)[A-Za-z0-9_. -]{1,100}$/;

/** Creates or updates the built-in roles (their permissions follow the running version). */
export async function ensureBuiltinRoles(db: Kysely<Database>): Promise<void> {
  const now = Date.now();
  for (const [name, role] of Object.entries(BUILTIN_ROLES)) {
    await db
      .insertInto("app_role")
      .values({ name, description: role.description, permissions: JSON.stringify(role.permissions), builtin: 1, created_at: now })
      .onConflict((oc) => oc.column("name").doUpdateSet({ description: role.description, permissions: JSON.stringify(role.permissions), builtin: 1 }))
      .execute();
  }
}

export interface UserWithRoles extends UserRow {
  roles: string[];
}

export async function rolesOf(db: Kysely<Database>, userIds: number[]): Promise<Map<number, RoleRow[]>> {
  const result = new Map<number, RoleRow[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return result;
  const rows = await db
    .selectFrom("user_role as ur")
    .innerJoin("app_role as r", "r.id", "ur.role_id")
    .selectAll("r")
    .select("ur.user_id")
    .where("ur.user_id", "in", userIds)
    .orderBy("r.name")
    .execute();
  for (const { user_id, ...role } of rows) result.get(user_id)?.push(role);
  return result;
}

export function permissionsOf(roles: RoleRow[]): Set<Permission> {
  const set = new Set<Permission>();
  for (const role of roles) for (const p of JSON.parse(role.permissions) as string[]) if (isPermission(p)) set.add(p);
  return set;
}

export async function findUser(db: Kysely<Database>, by: { id?: number; username?: string }): Promise<UserWithRoles | null> {
  let q = db.selectFrom("app_user").selectAll();
  if (by.id !== undefined) q = q.where("id", "=", by.id);
  if (by.username !== undefined) q = q.where("username", "=", by.username);
  const user = await q.executeTakeFirst();
  if (!user) return null;
  const roles = (await rolesOf(db, [user.id])).get(user.id) ?? [];
  return { ...user, roles: roles.map((r) => r.name) };
}

export async function requireUser(db: Kysely<Database>, username: string): Promise<UserWithRoles> {
  const user = await findUser(db, { username });
  if (!user) throw new UpdraftError("UPDRAFT_E_USER_NOT_FOUND", `user '${username}' not found`);
  return user;
}

export async function roleIds(db: Kysely<Database>, names: string[]): Promise<number[]> {
  if (names.length === 0) return [];
  const rows = await db.selectFrom("app_role").select(["id", "name"]).where("name", "in", names).execute();
  const missing = names.filter((n) => !rows.some((r) => r.name === n));
  if (missing.length > 0) {
    const known = await db.selectFrom("app_role").select("name").orderBy("name").execute();
    throw new UpdraftError("UPDRAFT_E_ROLE_NOT_FOUND", `role ${missing.map((m) => `'${m}'`).join(", ")} not found`, { hint: `roles: ${known.map((k) => k.name).join(", ")}` });
  }
  return rows.map((r) => r.id);
}

export interface NewUser {
  username: string;
  password: string;
  roles: string[];
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
}

export function checkUsername(username: string): string {
  if (!USERNAME_RE.test(username)) {
    throw new UpdraftError("UPDRAFT_E_VALIDATION", `username ${JSON.stringify(username.slice(0, 100))} is not valid`, { hint: 'use 1–100 letters, digits and "_ . @ -" (not dots alone)' });
  }
  return username;
}

export function checkPassword(password: string): string {
  if (password.length < 10 || password.length > 1024) {
    throw new UpdraftError("UPDRAFT_E_VALIDATION", "a password must be 10 to 1024 characters long", { hint: "a passphrase of several words is easy to remember and hard to guess" });
  }
  return password;
}

export function checkRoleName(name: string): string {
  if (!ROLE_RE.test(name)) throw new UpdraftError("UPDRAFT_E_VALIDATION", `role name ${JSON.stringify(name.slice(0, 100))} is not valid`, { hint: 'use 1–100 letters, digits, spaces and "_ . -" (not dots and spaces alone)' });
  return name;
}

export async function createUser(db: Kysely<Database>, user: NewUser): Promise<UserWithRoles> {
  checkUsername(user.username);
  checkPassword(user.password);
  if (await findUser(db, { username: user.username })) throw new UpdraftError("UPDRAFT_E_USER_EXISTS", `user '${user.username}' already exists`);
  const ids = await roleIds(db, user.roles);
  const now = Date.now();
  const hash = await hashPassword(user.password);
  const row = await db
    .insertInto("app_user")
    .values({ username: user.username, email: user.email ?? null, first_name: user.firstName ?? null, last_name: user.lastName ?? null, password_hash: hash, active: 1, token_version: 1, created_at: now, updated_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  const userId = Number(row.id);
  if (ids.length > 0) await db.insertInto("user_role").values(ids.map((role_id) => ({ user_id: userId, role_id }))).execute();
  return (await findUser(db, { id: userId }))!;
}

/**
 * Ends every session and API token of these users (password change, role removal, deactivation),
 * in the caller's transaction: access tokens carry the token version, so they stop working at
 * once, and the users' live sockets are closed as the API servers read the event.
 */
export async function revokeAllTokens(store: Store, trx: Kysely<Database>, userIds: number[]): Promise<void> {
  if (userIds.length === 0) return;
  const now = Date.now();
  await trx.updateTable("app_user").set((eb) => ({ token_version: eb("token_version", "+", 1), updated_at: now })).where("id", "in", userIds).execute();
  await trx.updateTable("auth_session").set({ revoked_at: now }).where("user_id", "in", userIds).where("revoked_at", "is", null).execute();
  await trx.updateTable("api_token").set({ revoked_at: now }).where("user_id", "in", userIds).where("revoked_at", "is", null).execute();
  await appendAuthChanged(trx, store, userIds);
}

// ---------------------------------------------------------------------------------------------
// Managing users, roles and API tokens (the API's /users, /roles and /tokens, and `updraft users`).

/** The name of the role that may do everything; one active user always keeps it. */
export const ADMIN_ROLE = "Admin";

export async function listUsers(db: Kysely<Database>, page: { limit: number; offset: number }): Promise<{ users: UserWithRoles[]; total: number }> {
  const rows = await db.selectFrom("app_user").selectAll().orderBy("username").limit(page.limit).offset(page.offset).execute();
  const roles = await rolesOf(db, rows.map((r) => r.id));
  const total = await db.selectFrom("app_user").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
  return { users: rows.map((r) => ({ ...r, roles: (roles.get(r.id) ?? []).map((role) => role.name) })), total: Number(total.n) };
}

/** The permissions a set of roles grants together. */
export async function permissionsOfRoles(db: Kysely<Database>, names: string[]): Promise<Set<Permission>> {
  if (names.length === 0) return new Set();
  return permissionsOf(await db.selectFrom("app_role").selectAll().where("name", "in", names).execute());
}

/** Whether another active user than `userId` has the Admin role (so `userId` may lose it). */
async function anotherActiveAdmin(db: Kysely<Database>, userId: number): Promise<boolean> {
  const row = await db
    .selectFrom("user_role as ur")
    .innerJoin("app_role as r", "r.id", "ur.role_id")
    .innerJoin("app_user as u", "u.id", "ur.user_id")
    .select("u.id")
    .where("r.name", "=", ADMIN_ROLE)
    .where("u.active", "=", 1)
    .where("u.id", "!=", userId)
    .executeTakeFirst();
  return row !== undefined;
}

function lastAdmin(username: string, what: string): UpdraftError {
  return new UpdraftError("UPDRAFT_E_CONFLICT", `${what}: '${username}' is the last active ${ADMIN_ROLE}`, { hint: `give another user the ${ADMIN_ROLE} role first` });
}

export interface UserChange {
  password?: string;
  /** The user's roles from now on (all of them). */
  roles?: string[];
  active?: boolean;
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
}

/**
 * Changes a user. A new password, a role taken away or deactivation revokes every session and
 * API token of the user. Returns the user as changed, and whether their tokens were revoked.
 */
export async function updateUser(store: Store, username: string, change: UserChange): Promise<{ user: UserWithRoles; revoked: boolean }> {
  const user = await requireUser(store.db, username);
  const hash = change.password === undefined ? undefined : await hashPassword(checkPassword(change.password));
  const newRoleIds = change.roles === undefined ? undefined : await roleIds(store.db, [...new Set(change.roles)]);
  const removedRoles = change.roles === undefined ? [] : user.roles.filter((r) => !change.roles!.includes(r));
  const deactivated = change.active === false && user.active === 1;
  if ((removedRoles.includes(ADMIN_ROLE) || (deactivated && user.roles.includes(ADMIN_ROLE))) && !(await anotherActiveAdmin(store.db, user.id))) {
    throw lastAdmin(username, deactivated ? "cannot deactivate the user" : `cannot take the ${ADMIN_ROLE} role away`);
  }
  const revoked = hash !== undefined || removedRoles.length > 0 || deactivated;
  await store.transaction(async (trx) => {
    const set: Partial<UserRow> = { updated_at: Date.now() };
    if (hash !== undefined) set.password_hash = hash;
    if (change.active !== undefined) set.active = change.active ? 1 : 0;
    if (change.email !== undefined) set.email = change.email;
    if (change.firstName !== undefined) set.first_name = change.firstName;
    if (change.lastName !== undefined) set.last_name = change.lastName;
    await trx.updateTable("app_user").set(set).where("id", "=", user.id).execute();
    if (newRoleIds !== undefined) {
      await trx.deleteFrom("user_role").where("user_id", "=", user.id).execute();
      if (newRoleIds.length > 0) await trx.insertInto("user_role").values(newRoleIds.map((role_id) => ({ user_id: user.id, role_id }))).execute();
    }
    if (revoked) await revokeAllTokens(store, trx, [user.id]);
  });
  return { user: (await findUser(store.db, { id: user.id }))!, revoked };
}

export async function addUserRole(store: Store, username: string, role: string): Promise<boolean> {
  const user = await requireUser(store.db, username);
  if (user.roles.includes(role)) return false;
  await updateUser(store, username, { roles: [...user.roles, role] });
  return true;
}

/** Takes a role away (revoking the user's tokens); false when the user did not have it. */
export async function removeUserRole(store: Store, username: string, role: string): Promise<boolean> {
  const user = await requireUser(store.db, username);
  if (!user.roles.includes(role)) return false;
  await updateUser(store, username, { roles: user.roles.filter((r) => r !== role) });
  return true;
}

export async function deleteUser(store: Store, username: string): Promise<void> {
  const user = await requireUser(store.db, username);
  if (user.roles.includes(ADMIN_ROLE) && user.active === 1 && !(await anotherActiveAdmin(store.db, user.id))) throw lastAdmin(username, "cannot delete the user");
  await store.transaction(async (trx) => {
    await revokeAllTokens(store, trx, [user.id]);
    await trx.deleteFrom("user_role").where("user_id", "=", user.id).execute();
    await trx.deleteFrom("auth_session").where("user_id", "=", user.id).execute();
    await trx.deleteFrom("api_token").where("user_id", "=", user.id).execute();
    await trx.deleteFrom("app_user").where("id", "=", user.id).execute();
  });
}

export interface RoleWithUsers extends RoleRow {
  userCount: number;
}

export async function listRoles(db: Kysely<Database>, page: { limit: number; offset: number } = { limit: 1000, offset: 0 }): Promise<{ roles: RoleWithUsers[]; total: number }> {
  const rows = await db
    .selectFrom("app_role as r")
    .selectAll("r")
    .select((eb) => eb.selectFrom("user_role as ur").select((e) => e.fn.countAll<number>().as("n")).whereRef("ur.role_id", "=", "r.id").as("user_count"))
    .orderBy("r.name")
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  const total = await db.selectFrom("app_role").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
  return { roles: rows.map(({ user_count, ...r }) => ({ ...r, userCount: Number(user_count ?? 0) })), total: Number(total.n) };
}

export async function requireRole(db: Kysely<Database>, name: string): Promise<RoleWithUsers> {
  const row = await db
    .selectFrom("app_role as r")
    .selectAll("r")
    .select((eb) => eb.selectFrom("user_role as ur").select((e) => e.fn.countAll<number>().as("n")).whereRef("ur.role_id", "=", "r.id").as("user_count"))
    .where("r.name", "=", name)
    .executeTakeFirst();
  if (!row) throw new UpdraftError("UPDRAFT_E_ROLE_NOT_FOUND", `role '${name.slice(0, 100)}' not found`);
  const { user_count, ...role } = row;
  return { ...role, userCount: Number(user_count ?? 0) };
}

export function checkPermissions(permissions: string[]): Permission[] {
  const unknown = permissions.filter((p) => !isPermission(p));
  if (unknown.length > 0) {
    throw new UpdraftError("UPDRAFT_E_VALIDATION", `unknown permission ${unknown.map((p) => JSON.stringify(p.slice(0, 100))).join(", ")}`, { hint: `permissions: ${PERMISSIONS.join(", ")}` });
  }
  return [...new Set(permissions as Permission[])].sort();
}

function builtinRole(name: string, what: string): UpdraftError {
  return new UpdraftError("UPDRAFT_E_CONFLICT", `the built-in role '${name}' cannot be ${what}`, { hint: "make a custom role with the permissions you need" });
}

export async function createRole(db: Kysely<Database>, role: { name: string; description?: string | null; permissions: string[] }): Promise<RoleWithUsers> {
  checkRoleName(role.name);
  const permissions = checkPermissions(role.permissions);
  const inserted = await db
    .insertInto("app_role")
    .values({ name: role.name, description: role.description ?? null, permissions: JSON.stringify(permissions), builtin: 0, created_at: Date.now() })
    .onConflict((oc) => oc.column("name").doNothing())
    .returning("id")
    .executeTakeFirst();
  if (inserted === undefined) throw new UpdraftError("UPDRAFT_E_CONFLICT", `role '${role.name}' already exists`);
  return requireRole(db, role.name);
}

/**
 * Changes a custom role. Taking permissions away revokes the tokens of every user with the role.
 * Returns the role, and how many users' tokens were revoked.
 */
export async function updateRole(store: Store, name: string, change: { description?: string | null; permissions?: string[] }): Promise<{ role: RoleWithUsers; revokedUsers: number }> {
  const role = await requireRole(store.db, name);
  if (role.builtin === 1) throw builtinRole(name, "changed");
  const permissions = change.permissions === undefined ? undefined : checkPermissions(change.permissions);
  const before = JSON.parse(role.permissions) as string[];
  const removed = permissions === undefined ? [] : before.filter((p) => !(permissions as string[]).includes(p));
  let revokedUsers = 0;
  await store.transaction(async (trx) => {
    const set: Partial<RoleRow> = {};
    if (change.description !== undefined) set.description = change.description;
    if (permissions !== undefined) set.permissions = JSON.stringify(permissions);
    if (Object.keys(set).length > 0) await trx.updateTable("app_role").set(set).where("id", "=", role.id).execute();
    if (removed.length > 0) {
      const users = await trx.selectFrom("user_role").select("user_id").where("role_id", "=", role.id).execute();
      await revokeAllTokens(store, trx, users.map((u) => u.user_id));
      revokedUsers = users.length;
    }
  });
  return { role: await requireRole(store.db, name), revokedUsers };
}

/** Deletes a custom role; its users lose it, and their tokens are revoked. */
export async function deleteRole(store: Store, name: string): Promise<{ revokedUsers: number }> {
  const role = await requireRole(store.db, name);
  if (role.builtin === 1) throw builtinRole(name, "deleted");
  return store.transaction(async (trx) => {
    const users = await trx.selectFrom("user_role").select("user_id").where("role_id", "=", role.id).execute();
    await revokeAllTokens(store, trx, users.map((u) => u.user_id));
    await trx.deleteFrom("user_role").where("role_id", "=", role.id).execute();
    await trx.deleteFrom("app_role").where("id", "=", role.id).execute();
    return { revokedUsers: users.length };
  });
}

/** Most API tokens a user may have that are neither revoked nor expired. */
export const MAX_ACTIVE_API_TOKENS = 100;

export interface ApiTokenInfo extends ApiTokenRow {
  username: string;
}

/** A new API token for a user: the secret (to show once) and the stored row (holding only its hash). */
export async function createApiToken(db: Kysely<Database>, userId: number, name: string, ttlMs: number): Promise<{ token: string; info: ApiTokenInfo }> {
  const now = Date.now();
  const active = await db
    .selectFrom("api_token")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("user_id", "=", userId)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", now)
    .executeTakeFirstOrThrow();
  if (Number(active.n) >= MAX_ACTIVE_API_TOKENS) {
    throw new UpdraftError("UPDRAFT_E_CONFLICT", `you have ${MAX_ACTIVE_API_TOKENS} active API tokens, the most allowed`, { hint: "revoke tokens you no longer use (DELETE /api/v1/tokens/{token_id})" });
  }
  const { token, hash } = newOpaqueToken(API_TOKEN_PREFIX);
  const row = await db
    .insertInto("api_token")
    .values({ user_id: userId, name, token_hash: hash, prefix: token.slice(0, API_TOKEN_PREFIX.length + 6), created_at: now, expires_at: now + ttlMs, last_used_at: null, revoked_at: null })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { token, info: (await findApiToken(db, Number(row.id)))! };
}

export async function findApiToken(db: Kysely<Database>, id: number): Promise<ApiTokenInfo | null> {
  const row = await db.selectFrom("api_token as t").innerJoin("app_user as u", "u.id", "t.user_id").selectAll("t").select("u.username").where("t.id", "=", id).executeTakeFirst();
  return row ?? null;
}

/** API tokens, newest first: of one user, or (userId undefined) of everyone. */
export async function listApiTokens(db: Kysely<Database>, options: { userId?: number; limit: number; offset: number }): Promise<{ tokens: ApiTokenInfo[]; total: number }> {
  let q = db.selectFrom("api_token as t").innerJoin("app_user as u", "u.id", "t.user_id");
  if (options.userId !== undefined) q = q.where("t.user_id", "=", options.userId);
  const rows = await q.selectAll("t").select("u.username").orderBy("t.id", "desc").limit(options.limit).offset(options.offset).execute();
  const total = await q.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
  return { tokens: rows, total: Number(total.n) };
}

export async function revokeApiToken(store: Store, id: number): Promise<void> {
  await store.transaction(async (trx) => {
    const row = await trx.updateTable("api_token").set({ revoked_at: Date.now() }).where("id", "=", id).where("revoked_at", "is", null).returning("user_id").executeTakeFirst();
    if (row) await appendAuthChanged(trx, store, [Number(row.user_id)]);
  });
}
