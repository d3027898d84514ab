import { Type } from "typebox";
import { createVariable, deleteVariable, listVariables, requireVariable, updateVariable, type VariableInfo } from "../../store/variables.js";
import type { ApiDeps } from "../deps.js";
import { Variable } from "../models.js";
import { ErrorBody, ERRORS, iso, NoContent, Nullable, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";

const Key = Type.String({ minLength: 1, maxLength: 250, pattern: "^(?!\\.+$)[A-Za-z0-9_.-]+$", description: 'variable key: letters, digits, "_", "." and "-", not dots alone' });
const Value = Type.String({ maxLength: 500_000 });
const Description = Nullable(Type.String({ maxLength: 5000 }));

const VariableParams = Type.Object({ variable_key: Key }, { additionalProperties: false });

function variableJson(v: VariableInfo) {
  return { key: v.key, value: v.value, is_secret: v.isSecret, description: v.description, created_at: iso(v.createdAt)!, updated_at: iso(v.updatedAt)! };
}

/**
 * Secret values are never returned, to anyone: like a connection's password they are write-only
 * over the API (tasks read them where they run). Plain values are returned to variables:read.
 */
export function registerVariableRoutes(app: ApiApp, { store, keyring }: ApiDeps): void {
  const db = store.db;

  app.get(
    "/variables",
    {
      config: { access: "variables:read" },
      schema: {
        tags: ["variables"],
        summary: "Variables (secret values masked)",
        querystring: Type.Object({ ...Page }, { additionalProperties: false }),
        response: { 200: Type.Object({ variables: Type.Array(Variable), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { variables, total } = await listVariables(db, pageOf(request.query));
      return { variables: variables.map(variableJson), total_entries: total };
    },
  );

  app.get(
    "/variables/:variable_key",
    {
      config: { access: "variables:read" },
      schema: { tags: ["variables"], summary: "A variable (a secret value masked)", params: VariableParams, response: { 200: Variable, ...ERRORS } },
    },
    async (request) => variableJson(await requireVariable(db, request.params.variable_key)),
  );

  app.post(
    "/variables",
    {
      config: { access: "variables:write", audit: "variable.create" },
      schema: {
        tags: ["variables"],
        summary: "Create a variable; a secret one is stored encrypted",
        body: Type.Object({ key: Key, value: Value, is_secret: Type.Optional(Type.Boolean({ default: false })), description: Type.Optional(Description) }, { additionalProperties: false }),
        response: { 201: Variable, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      request.auditNote = { objectType: "variable", objectId: body.key, details: { is_secret: body.is_secret ?? false } };
      const created = await createVariable(db, keyring, { key: body.key, value: body.value, isSecret: body.is_secret ?? false, description: body.description ?? null });
      return reply.code(201).send(variableJson(created));
    },
  );

  app.patch(
    "/variables/:variable_key",
    {
      config: { access: "variables:write", audit: "variable.update" },
      schema: {
        tags: ["variables"],
        summary: "Change a variable's value, secrecy or description",
        params: VariableParams,
        body: Type.Object({ value: Type.Optional(Value), is_secret: Type.Optional(Type.Boolean()), description: Type.Optional(Description) }, { additionalProperties: false }),
        response: { 200: Variable, ...ERRORS },
      },
    },
    async (request) => {
      const { variable_key } = request.params;
      const body = request.body;
      request.auditNote = { objectType: "variable", objectId: variable_key, details: { fields: Object.keys(body).sort(), ...(body.is_secret !== undefined ? { is_secret: body.is_secret } : {}) } };
      const change = {
        ...(body.value !== undefined ? { value: body.value } : {}),
        ...(body.is_secret !== undefined ? { isSecret: body.is_secret } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
      };
      return variableJson(await updateVariable(db, keyring, variable_key, change));
    },
  );

  app.delete(
    "/variables/:variable_key",
    {
      config: { access: "variables:write", audit: "variable.delete" },
      schema: { tags: ["variables"], summary: "Delete a variable", params: VariableParams, response: { 204: NoContent, ...ERRORS } },
    },
    async (request, reply) => {
      const { variable_key } = request.params;
      request.auditNote = { objectType: "variable", objectId: variable_key };
      await deleteVariable(db, variable_key);
      return reply.code(204).send();
    },
  );
}
