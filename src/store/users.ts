/** Users, roles, login sessions and API tokens. */
import type { Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import { BUILTIN_ROLES, isPermission, type Permission } from "../security/rbac.js";
import { hashPassword } from "../security/password.js";
import type { Database, RoleRow, UserRow } from "./schema.js";

const USERNAME_RE = /^[A-Za-z0-9_.@-]{1,100}$/;
const ROLE_RE = /^[A-Za-z0-9_. -]{1,100}$/;

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
    throw new UpdraftError("UPDRAFT_E_VALIDATION", `username ${JSON.stringify(username.slice(0, 100))} is not valid`, { hint: 'use 1–100 letters, digits and "_ . @ -"' });
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
  if (!ROLE_RE.test(name)) throw new UpdraftError("UPDRAFT_E_VALIDATION", `role name ${JSON.stringify(name.slice(0, 100))} is not valid`, { hint: 'use 1–100 letters, digits, spaces and "_ . -"' });
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
 * Ends every session and API token of a user (password change, role removal, deactivation):
 * access tokens carry the token version, so they stop working at once.
 */
export async function revokeAllTokens(db: Kysely<Database>, userId: number): Promise<void> {
  const now = Date.now();
  await db.updateTable("app_user").set((eb) => ({ token_version: eb("token_version", "+", 1), updated_at: now })).where("id", "=", userId).execute();
  await db.updateTable("auth_session").set({ revoked_at: now }).where("user_id", "=", userId).where("revoked_at", "is", null).execute();
  await db.updateTable("api_token").set({ revoked_at: now }).where("user_id", "=", userId).where("revoked_at", "is", null).execute();
}
