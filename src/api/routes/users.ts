import { Type } from "typebox";
import { isUpdraftError, UpdraftError } from "../../errors/index.js";
import type { Permission, Principal } from "../../security/rbac.js";
import { createUser, deleteUser, listUsers, permissionsOfRoles, requireUser, roleIds, updateUser, type UserChange, type UserWithRoles } from "../../store/users.js";
import { principalOf } from "../access.js";
import type { ApiDeps } from "../deps.js";
import { User } from "../models.js";
import { ErrorBody, ERRORS, Id, iso, NoContent, Nullable, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";

const UserParams = Type.Object({ username: Id("username", 100) }, { additionalProperties: false });
const Password = Type.String({ minLength: 10, maxLength: 1024, description: "10 to 1024 characters; stored as a scrypt hash" });
const Roles = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 50, uniqueItems: true });
const Email = Nullable(Type.String({ maxLength: 320, format: "email" }));
const Name = Nullable(Type.String({ maxLength: 200 }));

export function userJson(u: UserWithRoles) {
  return {
    username: u.username,
    email: u.email,
    first_name: u.first_name,
    last_name: u.last_name,
    roles: u.roles,
    active: u.active === 1,
    created_at: iso(Number(u.created_at))!,
    updated_at: iso(Number(u.updated_at))!,
    last_login_at: iso(u.last_login_at === null ? null : Number(u.last_login_at)),
  };
}

/**
 * No one grants what they do not hold: a principal may only give out (through a user's roles or
 * a role's permissions), or act on a user holding, permissions it has itself. Without this a
 * custom role with users:write or roles:write would be a way to become Admin.
 */
export function assertHolds(principal: Principal, permissions: Iterable<Permission>, what: string): void {
  const missing = [...permissions].filter((p) => !principal.permissions.has(p));
  if (missing.length > 0) {
    throw new UpdraftError("UPDRAFT_E_FORBIDDEN", `you may not ${what}: it involves permissions your roles do not grant (${[...new Set(missing)].sort().join(", ")})`, {
      hint: "an Admin can do it",
    });
  }
}

/** Roles named in a request body must exist: an unknown one is a 400, not a 404. */
async function checkRoles(deps: ApiDeps, names: string[]): Promise<Set<Permission>> {
  try {
    await roleIds(deps.store.db, names);
  } catch (error) {
    if (isUpdraftError(error, "UPDRAFT_E_ROLE_NOT_FOUND")) throw new UpdraftError("UPDRAFT_E_VALIDATION", error.message, error.hint ? { hint: error.hint } : {});
    throw error;
  }
  return permissionsOfRoles(deps.store.db, names);
}

export function registerUserRoutes(app: ApiApp, deps: ApiDeps): void {
  const { store } = deps;
  const db = store.db;

  app.get(
    "/users",
    {
      config: { access: "users:read" },
      schema: {
        tags: ["users"],
        summary: "Users (never their password hashes)",
        querystring: Type.Object({ ...Page }, { additionalProperties: false }),
        response: { 200: Type.Object({ users: Type.Array(User), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { users, total } = await listUsers(db, pageOf(request.query));
      return { users: users.map(userJson), total_entries: total };
    },
  );

  app.get(
    "/users/:username",
    {
      config: { access: "users:read" },
      schema: { tags: ["users"], summary: "A user", params: UserParams, response: { 200: User, ...ERRORS } },
    },
    async (request) => userJson(await requireUser(db, request.params.username)),
  );

  app.post(
    "/users",
    {
      config: { access: "users:write", audit: "user.create" },
      schema: {
        tags: ["users"],
        summary: "Create a user",
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 100, pattern: "^(?!\\.+$)[A-Za-z0-9_.@-]+$" }),
            password: Password,
            roles: Roles,
            email: Type.Optional(Email),
            first_name: Type.Optional(Name),
            last_name: Type.Optional(Name),
          },
          { additionalProperties: false },
        ),
        response: { 201: User, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      request.auditNote = { objectType: "user", objectId: body.username, details: { roles: body.roles } };
      assertHolds(principalOf(request), await checkRoles(deps, body.roles), "give these roles");
      const user = await createUser(db, { username: body.username, password: body.password, roles: body.roles, email: body.email ?? null, firstName: body.first_name ?? null, lastName: body.last_name ?? null });
      return reply.code(201).send(userJson(user));
    },
  );

  app.patch(
    "/users/:username",
    {
      config: { access: "users:write", audit: "user.update" },
      schema: {
        tags: ["users"],
        summary: "Change a user; a new password, a role taken away or deactivation revokes all of the user's tokens",
        params: UserParams,
        body: Type.Object(
          {
            password: Type.Optional(Password),
            roles: Type.Optional(Roles),
            active: Type.Optional(Type.Boolean()),
            email: Type.Optional(Email),
            first_name: Type.Optional(Name),
            last_name: Type.Optional(Name),
          },
          { additionalProperties: false },
        ),
        response: { 200: User, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request) => {
      const { username } = request.params;
      const body = request.body;
      const principal = principalOf(request);
      const details: Record<string, unknown> = { fields: Object.keys(body).sort(), ...(body.roles ? { roles: body.roles } : {}) };
      request.auditNote = { objectType: "user", objectId: username, details };
      const target = await requireUser(db, username);
      assertHolds(principal, await permissionsOfRoles(db, target.roles), `change user '${username}'`);
      if (body.roles !== undefined) assertHolds(principal, await checkRoles(deps, body.roles), "give these roles");
      if (body.active === false && target.id === principal.userId) {
        throw new UpdraftError("UPDRAFT_E_VALIDATION", "you cannot deactivate your own user", { hint: "another user with users:write can" });
      }
      const change: UserChange = {
        ...(body.password !== undefined ? { password: body.password } : {}),
        ...(body.roles !== undefined ? { roles: body.roles } : {}),
        ...(body.active !== undefined ? { active: body.active } : {}),
        ...(body.email !== undefined ? { email: body.email } : {}),
        ...(body.first_name !== undefined ? { firstName: body.first_name } : {}),
        ...(body.last_name !== undefined ? { lastName: body.last_name } : {}),
      };
      const { user, revoked } = await updateUser(store, username, change);
      if (revoked) details.tokens_revoked = true;
      return userJson(user);
    },
  );

  app.delete(
    "/users/:username",
    {
      config: { access: "users:write", audit: "user.delete" },
      schema: { tags: ["users"], summary: "Delete a user (not yourself), with their sessions and API tokens", params: UserParams, response: { 204: NoContent, ...ERRORS, 409: ErrorBody } },
    },
    async (request, reply) => {
      const { username } = request.params;
      const principal = principalOf(request);
      request.auditNote = { objectType: "user", objectId: username };
      const target = await requireUser(db, username);
      if (target.id === principal.userId) throw new UpdraftError("UPDRAFT_E_VALIDATION", "you cannot delete your own user", { hint: "another user with users:write can" });
      assertHolds(principal, await permissionsOfRoles(db, target.roles), `delete user '${username}'`);
      await deleteUser(store, username);
      return reply.code(204).send();
    },
  );
}
