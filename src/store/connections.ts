/**
 * Connections: how tasks reach other systems. The password and the extra (a JSON object) are
 * secrets: stored only as ciphertexts of the keyring (src/security/secrets.ts), never returned by
 * the listing functions, which say only whether they are set.
 */
import type { Kysely, Selectable } from "kysely";
import { UpdraftError } from "../errors/index.js";
import type { Keyring } from "../security/secrets.js";
import type { ConnectionParts } from "../util/connection-uri.js";
import { chunk } from "./batch.js";
import type { ImportSummary } from "./variables.js";
import type { ConnectionTable, Database } from "./schema.js";
import { requireKeyring } from "./secrets.js";

const CONN_ID_RE = /^(?!\.+$)[A-Za-z0-9_.-]{1,250}$/;
const CONN_TYPE_RE = /^[A-Za-z0-9_.-]{1,100}$/;

/** What callers see of a connection: no secret, only whether one is set. */
export interface ConnectionInfo {
  connId: string;
  connType: string;
  description: string | null;
  host: string | null;
  schema: string | null;
  login: string | null;
  port: number | null;
  passwordSet: boolean;
  extraSet: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A connection with its secrets decrypted (for the code that uses it, never for display). */
export interface ConnectionWithSecrets extends ConnectionInfo {
  password: string | null;
  extra: Record<string, unknown> | null;
}

/** Fields of a new connection, or of a change (a field left undefined is kept; null clears it). */
export interface ConnectionFields {
  connType?: string;
  description?: string | null;
  host?: string | null;
  schema?: string | null;
  login?: string | null;
  port?: number | null;
  password?: string | null;
  /** A JSON object, or a string holding one. */
  extra?: string | Record<string, unknown> | null;
}

export function checkConnId(connId: string): string {
  if (!CONN_ID_RE.test(connId)) {
    throw new UpdraftError("UPDRAFT_E_INVALID_ID", `connection id ${JSON.stringify(connId.slice(0, 250))} is not valid`, { hint: 'use 1–250 letters, digits, "_", "." and "-" (not dots alone)' });
  }
  return connId;
}

function checkConnType(connType: string): string {
  if (!CONN_TYPE_RE.test(connType)) {
    throw new UpdraftError("UPDRAFT_E_VALIDATION", `conn_type ${JSON.stringify(connType.slice(0, 100))} is not valid`, { hint: 'e.g. "postgres", "http", "aws"' });
  }
  return connType;
}

/** The extra as the JSON text to encrypt; it must be a JSON object. */
export function normalizeExtra(extra: string | Record<string, unknown>): string {
  let value: unknown = extra;
  if (typeof extra === "string") {
    try {
      value = JSON.parse(extra);
    } catch {
      // The message never quotes the text: it may hold a secret.
      throw new UpdraftError("UPDRAFT_E_VALIDATION", "extra is not valid JSON", { hint: 'give a JSON object, e.g. {"region": "eu-west-1"}' });
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UpdraftError("UPDRAFT_E_VALIDATION", "extra must be a JSON object", { hint: 'e.g. {"region": "eu-west-1"}' });
  }
  return JSON.stringify(value);
}

type Row = Selectable<ConnectionTable>;

/** A row's plain fields. */
function fieldsOf(row: Row): Omit<ConnectionParts, "password" | "extra"> {
  return { connType: row.conn_type, description: row.description, host: row.host, schema: row.schema_name, login: row.login, port: row.port };
}

/** A row's password and extra, decrypted; both null without a way to decrypt them. */
function secretsOf(row: Row, decrypt: ((ciphertext: string) => string) | null): Pick<ConnectionParts, "password" | "extra"> {
  return {
    password: row.password_enc === null || !decrypt ? null : decrypt(row.password_enc),
    extra: row.extra_enc === null || !decrypt ? null : (JSON.parse(decrypt(row.extra_enc)) as Record<string, unknown>),
  };
}

function info(row: Row): ConnectionInfo {
  return {
    connId: row.conn_id,
    ...fieldsOf(row),
    passwordSet: row.password_enc !== null,
    extraSet: row.extra_enc !== null,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

const SELECT = ["conn_id", "conn_type", "description", "host", "schema_name", "login", "port", "password_enc", "extra_enc", "created_at", "updated_at"] as const;

export async function listConnections(db: Kysely<Database>, page: { limit: number; offset: number }): Promise<{ connections: ConnectionInfo[]; total: number }> {
  const rows = await db.selectFrom("connection").select(SELECT).orderBy("conn_id").limit(page.limit).offset(page.offset).execute();
  const total = await db.selectFrom("connection").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
  return { connections: rows.map(info), total: Number(total.n) };
}

async function rowOf(db: Kysely<Database>, connId: string): Promise<Row> {
  const row = await db.selectFrom("connection").select(SELECT).where("conn_id", "=", connId).executeTakeFirst();
  if (!row) throw new UpdraftError("UPDRAFT_E_CONNECTION_NOT_FOUND", `connection '${connId.slice(0, 250)}' not found`);
  return row;
}

export async function requireConnection(db: Kysely<Database>, connId: string): Promise<ConnectionInfo> {
  return info(await rowOf(db, connId));
}

/** A connection with its password and extra decrypted. */
export async function readConnection(db: Kysely<Database>, keyring: Keyring, connId: string): Promise<ConnectionWithSecrets> {
  const row = await rowOf(db, connId);
  return { ...info(row), ...secretsOf(row, (c) => keyring.decrypt(c)) };
}

/**
 * A connection for the try that asked for it (`ctx.connection`), its password and extra
 * decrypted; null when there is none. This is the one read the scheduler answers runners with, and
 * the execution API will answer remote workers with.
 */
export async function connectionForTask(db: Kysely<Database>, keyring: Keyring | null, connId: string): Promise<ConnectionParts | null> {
  const row = await db.selectFrom("connection").select(SELECT).where("conn_id", "=", connId).executeTakeFirst();
  if (!row) return null;
  return { ...fieldsOf(row), ...secretsOf(row, (c) => requireKeyring(keyring, `connection '${connId}'`).decrypt(c)) };
}

/** Every connection with its secrets decrypted, or without them when no keyring is given (`updraft connections export`). */
export async function exportConnections(db: Kysely<Database>, keyring: Keyring | null): Promise<Array<{ connId: string } & ConnectionParts>> {
  const rows = await db.selectFrom("connection").select(SELECT).orderBy("conn_id").execute();
  return rows.map((row) => ({ connId: row.conn_id, ...fieldsOf(row), ...secretsOf(row, keyring ? (c) => keyring.decrypt(c) : null) }));
}

/**
 * Creates connections, and replaces existing ones whole when `overwrite` (else skips them), in a
 * few statements whatever their number (`updraft connections import`; run it in a transaction).
 */
export async function importConnections(db: Kysely<Database>, keyring: Keyring, connections: Array<{ connId: string } & ConnectionParts>, options: { overwrite: boolean }): Promise<ImportSummary> {
  for (const c of connections) checkConnId(c.connId);
  const existing = new Set<string>();
  for (const part of chunk(connections.map((c) => c.connId), 1_000)) {
    for (const r of await db.selectFrom("connection").select("conn_id").where("conn_id", "in", part).execute()) existing.add(r.conn_id);
  }
  const summary: ImportSummary = { created: [], updated: [], skipped: [] };
  const now = Date.now();
  const rows = connections.flatMap((c) => {
    if (existing.has(c.connId) && !options.overwrite) {
      summary.skipped.push(c.connId);
      return [];
    }
    (existing.has(c.connId) ? summary.updated : summary.created).push(c.connId);
    const set = changes(keyring, c);
    return [{
      conn_id: c.connId,
      conn_type: set.conn_type!,
      description: c.description,
      host: c.host,
      schema_name: c.schema,
      login: c.login,
      port: c.port,
      password_enc: set.password_enc ?? null,
      extra_enc: set.extra_enc ?? null,
      created_at: now,
      updated_at: now,
    }];
  });
  for (const part of chunk(rows, 500)) {
    await db
      .insertInto("connection")
      .values(part)
      .onConflict((oc) =>
        oc.column("conn_id").doUpdateSet((eb) => ({
          conn_type: eb.ref("excluded.conn_type"),
          description: eb.ref("excluded.description"),
          host: eb.ref("excluded.host"),
          schema_name: eb.ref("excluded.schema_name"),
          login: eb.ref("excluded.login"),
          port: eb.ref("excluded.port"),
          password_enc: eb.ref("excluded.password_enc"),
          extra_enc: eb.ref("excluded.extra_enc"),
          updated_at: eb.ref("excluded.updated_at"),
        })),
      )
      .execute();
  }
  return summary;
}

function changes(keyring: Keyring, fields: ConnectionFields) {
  const set: Partial<Row> = {};
  if (fields.connType !== undefined) set.conn_type = checkConnType(fields.connType);
  if (fields.description !== undefined) set.description = fields.description;
  if (fields.host !== undefined) set.host = fields.host;
  if (fields.schema !== undefined) set.schema_name = fields.schema;
  if (fields.login !== undefined) set.login = fields.login;
  if (fields.port !== undefined) set.port = fields.port;
  if (fields.password !== undefined) set.password_enc = fields.password === null || fields.password === "" ? null : keyring.encrypt(fields.password);
  if (fields.extra !== undefined) set.extra_enc = fields.extra === null ? null : keyring.encrypt(normalizeExtra(fields.extra));
  return set;
}

export async function createConnection(db: Kysely<Database>, keyring: Keyring, connId: string, fields: ConnectionFields & { connType: string }): Promise<ConnectionInfo> {
  checkConnId(connId);
  const set = changes(keyring, fields);
  const now = Date.now();
  const inserted = await db
    .insertInto("connection")
    .values({
      conn_id: connId,
      conn_type: set.conn_type!,
      description: set.description ?? null,
      host: set.host ?? null,
      schema_name: set.schema_name ?? null,
      login: set.login ?? null,
      port: set.port ?? null,
      password_enc: set.password_enc ?? null,
      extra_enc: set.extra_enc ?? null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column("conn_id").doNothing())
    .returning("conn_id")
    .executeTakeFirst();
  if (inserted === undefined) {
    throw new UpdraftError("UPDRAFT_E_CONFLICT", `connection '${connId}' already exists`, { hint: `change it with PATCH /api/v1/connections/${connId}` });
  }
  return requireConnection(db, connId);
}

/** Changes the fields given; the others (the password and extra included) are kept. */
export async function updateConnection(db: Kysely<Database>, keyring: Keyring, connId: string, fields: ConnectionFields): Promise<ConnectionInfo> {
  const set = changes(keyring, fields);
  const result = await db
    .updateTable("connection")
    .set({ ...set, updated_at: Date.now() })
    .where("conn_id", "=", connId)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw new UpdraftError("UPDRAFT_E_CONNECTION_NOT_FOUND", `connection '${connId.slice(0, 250)}' not found`);
  return requireConnection(db, connId);
}

export async function deleteConnection(db: Kysely<Database>, connId: string): Promise<void> {
  const result = await db.deleteFrom("connection").where("conn_id", "=", connId).executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw new UpdraftError("UPDRAFT_E_CONNECTION_NOT_FOUND", `connection '${connId.slice(0, 250)}' not found`);
}
