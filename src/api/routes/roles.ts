import { Type } from "typebox";
import { PERMISSIONS, type Permission } from "../../security/rbac.js";
import { checkPermissions, createRole, deleteRole, listRoles, requireRole, updateRole, type RoleWithUsers } from "../../store/users.js";
import { principalOf } from "../access.js";
import type { ApiDeps } from "../deps.js";
import { Role } from "../models.js";
import { ErrorBody, ERRORS, Id, iso, NoContent, Nullable, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";
import { assertHolds } from "./users.js";

const RoleParams = Type.Object({ role_name: Id("role name", 100) }, { additionalProperties: false });
const Permissions = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100, description: `each one of: ${PERMISSIONS.join(", ")}` });
const Description = Nullable(Type.String({ maxLength: 1000 }));

function roleJson(r: RoleWithUsers) {
  return {
    name: r.name,
    description: r.description,
    permissions: JSON.parse(r.permissions) as string[],
    builtin: r.builtin === 1,
    user_count: r.userCount,
    created_at: iso(Number(r.created_at))!,
  };
}

const permissionsOf = (r: RoleWithUsers) => checkPermissions(JSON.parse(r.permissions) as string[]);

export function registerRoleRoutes(app: ApiApp, { store }: ApiDeps): void {
  const db = store.db;

  app.get(
    "/roles",
    {
      config: { access: "roles:read" },
      schema: {
        tags: ["roles"],
        summary: "Roles and their permissions",
        querystring: Type.Object({ ...Page }, { additionalProperties: false }),
        response: { 200: Type.Object({ roles: Type.Array(Role), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { roles, total } = await listRoles(db, pageOf(request.query));
      return { roles: roles.map(roleJson), total_entries: total };
    },
  );

  app.get(
    "/roles/:role_name",
    {
      config: { access: "roles:read" },
      schema: { tags: ["roles"], summary: "A role", params: RoleParams, response: { 200: Role, ...ERRORS } },
    },
    async (request) => roleJson(await requireRole(db, request.params.role_name)),
  );

  app.post(
    "/roles",
    {
      config: { access: "roles:write", audit: "role.create" },
      schema: {
        tags: ["roles"],
        summary: "Create a custom role",
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), description: Type.Optional(Description), permissions: Permissions }, { additionalProperties: false }),
        response: { 201: Role, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      request.auditNote = { objectType: "role", objectId: body.name, details: { permissions: body.permissions } };
      assertHolds(principalOf(request), checkPermissions(body.permissions), "grant these permissions");
      return reply.code(201).send(roleJson(await createRole(db, body)));
    },
  );

  app.patch(
    "/roles/:role_name",
    {
      config: { access: "roles:write", audit: "role.update" },
      schema: {
        tags: ["roles"],
        summary: "Change a custom role; taking permissions away revokes the tokens of its users",
        params: RoleParams,
        body: Type.Object({ description: Type.Optional(Description), permissions: Type.Optional(Permissions) }, { additionalProperties: false }),
        response: { 200: Role, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request) => {
      const { role_name } = request.params;
      const body = request.body;
      const details: Record<string, unknown> = body.permissions ? { permissions: body.permissions } : { fields: Object.keys(body) };
      request.auditNote = { objectType: "role", objectId: role_name, details };
      const principal = principalOf(request);
      const role = await requireRole(db, role_name);
      const involved: Permission[] = [...(role.builtin === 1 ? [] : permissionsOf(role)), ...(body.permissions ? checkPermissions(body.permissions) : [])];
      assertHolds(principal, involved, `change role '${role_name}'`);
      const { role: changed, revokedUsers } = await updateRole(store, role_name, body);
      if (revokedUsers > 0) details.tokens_revoked_users = revokedUsers;
      return roleJson(changed);
    },
  );

  app.delete(
    "/roles/:role_name",
    {
      config: { access: "roles:write", audit: "role.delete" },
      schema: { tags: ["roles"], summary: "Delete a custom role (its users lose it, and their tokens are revoked)", params: RoleParams, response: { 204: NoContent, ...ERRORS, 409: ErrorBody } },
    },
    async (request, reply) => {
      const { role_name } = request.params;
      request.auditNote = { objectType: "role", objectId: role_name };
      const role = await requireRole(db, role_name);
      if (role.builtin !== 1) assertHolds(principalOf(request), permissionsOf(role), `delete role '${role_name}'`);
      const { revokedUsers } = await deleteRole(store, role_name);
      if (revokedUsers > 0) request.auditNote.details = { tokens_revoked_users: revokedUsers };
      return reply.code(204).send();
    },
  );
}
