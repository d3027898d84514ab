import { Type, type Static } from "typebox";
import { createConnection, deleteConnection, listConnections, requireConnection, updateConnection, type ConnectionFields, type ConnectionInfo } from "../../store/connections.js";
import type { ApiDeps } from "../deps.js";
import { Connection } from "../models.js";
import { ErrorBody, ERRORS, iso, NoContent, Nullable, Page, pageOf } from "../schemas.js";
import type { ApiApp } from "../types.js";

const ConnId = Type.String({ minLength: 1, maxLength: 250, pattern: "^(?!\\.+$)[A-Za-z0-9_.-]+$", description: 'connection id: letters, digits, "_", "." and "-", not dots alone' });

const text = (maxLength: number) => Type.Optional(Nullable(Type.String({ maxLength })));
const Fields = {
  description: text(5000),
  host: text(1000),
  schema: text(500),
  login: text(500),
  port: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 65535 }))),
  password: Type.Optional(Nullable(Type.String({ maxLength: 10_000, description: "write-only: stored encrypted, never returned" }))),
  extra: Type.Optional(
    Nullable(
      Type.Union([Type.String({ maxLength: 100_000 }), Type.Record(Type.String(), Type.Unknown())], {
        description: "write-only JSON object (or a string holding one): stored encrypted, never returned",
      }),
    ),
  ),
};

const ConnParams = Type.Object({ connection_id: ConnId }, { additionalProperties: false });

const ConnType = Type.String({ minLength: 1, maxLength: 100 });
const NewConnection = Type.Object({ connection_id: ConnId, conn_type: ConnType, ...Fields }, { additionalProperties: false });
const ConnectionChange = Type.Object({ conn_type: Type.Optional(ConnType), ...Fields }, { additionalProperties: false });
/** A body of either route (a new connection's has its id and type as well). */
type Body = Static<typeof ConnectionChange>;

function fieldsOf(body: Body): ConnectionFields {
  return {
    ...(body.conn_type !== undefined ? { connType: body.conn_type } : {}),
    ...(body.description !== undefined ? { description: body.description } : {}),
    ...(body.host !== undefined ? { host: body.host } : {}),
    ...(body.schema !== undefined ? { schema: body.schema } : {}),
    ...(body.login !== undefined ? { login: body.login } : {}),
    ...(body.port !== undefined ? { port: body.port } : {}),
    ...(body.password !== undefined ? { password: body.password } : {}),
    ...(body.extra !== undefined ? { extra: body.extra } : {}),
  };
}

/** The names of the fields a request changes, for the audit log (never their values). */
const changed = (body: Body) => Object.keys(body).filter((k) => k !== "connection_id").sort();

export function connectionJson(c: ConnectionInfo) {
  return {
    connection_id: c.connId,
    conn_type: c.connType,
    description: c.description,
    host: c.host,
    schema: c.schema,
    login: c.login,
    port: c.port,
    password_set: c.passwordSet,
    extra_set: c.extraSet,
    created_at: iso(c.createdAt)!,
    updated_at: iso(c.updatedAt)!,
  };
}

export function registerConnectionRoutes(app: ApiApp, { store, keyring }: ApiDeps): void {
  const db = store.db;

  app.get(
    "/connections",
    {
      config: { access: "connections:read" },
      schema: {
        tags: ["connections"],
        summary: "Connections (without their passwords and extras)",
        querystring: Type.Object({ ...Page }, { additionalProperties: false }),
        response: { 200: Type.Object({ connections: Type.Array(Connection), total_entries: Type.Integer() }, { additionalProperties: false }), ...ERRORS },
      },
    },
    async (request) => {
      const { connections, total } = await listConnections(db, pageOf(request.query));
      return { connections: connections.map(connectionJson), total_entries: total };
    },
  );

  app.get(
    "/connections/:connection_id",
    {
      config: { access: "connections:read" },
      schema: { tags: ["connections"], summary: "A connection (without its password and extra)", params: ConnParams, response: { 200: Connection, ...ERRORS } },
    },
    async (request) => connectionJson(await requireConnection(db, request.params.connection_id)),
  );

  app.post(
    "/connections",
    {
      config: { access: "connections:write", audit: "connection.create" },
      schema: {
        tags: ["connections"],
        summary: "Create a connection; the password and extra are stored encrypted",
        body: NewConnection,
        response: { 201: Connection, ...ERRORS, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      request.auditNote = { objectType: "connection", objectId: body.connection_id, details: { fields: changed(body) } };
      const created = await createConnection(db, keyring, body.connection_id, { ...fieldsOf(body), connType: body.conn_type });
      return reply.code(201).send(connectionJson(created));
    },
  );

  app.patch(
    "/connections/:connection_id",
    {
      config: { access: "connections:write", audit: "connection.update" },
      schema: {
        tags: ["connections"],
        summary: "Change the fields given (a field left out is kept, the password too; null clears one)",
        params: ConnParams,
        body: ConnectionChange,
        response: { 200: Connection, ...ERRORS },
      },
    },
    async (request) => {
      const { connection_id } = request.params;
      const body = request.body;
      request.auditNote = { objectType: "connection", objectId: connection_id, details: { fields: changed(body) } };
      return connectionJson(await updateConnection(db, keyring, connection_id, fieldsOf(body)));
    },
  );

  app.delete(
    "/connections/:connection_id",
    {
      config: { access: "connections:write", audit: "connection.delete" },
      schema: { tags: ["connections"], summary: "Delete a connection", params: ConnParams, response: { 204: NoContent, ...ERRORS } },
    },
    async (request, reply) => {
      const { connection_id } = request.params;
      request.auditNote = { objectType: "connection", objectId: connection_id };
      await deleteConnection(db, connection_id);
      return reply.code(204).send();
    },
  );
}
