import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely } from "kysely";
import type { MigrationContext } from "./index.js";

type Table = CreateTableBuilder<string, string>;

function withId(table: Table, ctx: MigrationContext): Table {
  return ctx.dialect === "sqlite"
    ? table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    : table.addColumn("id", "bigint", (c) => c.primaryKey().generatedByDefaultAsIdentity());
}

const notNull = (c: ColumnDefinitionBuilder) => c.notNull();

/** Users, roles, tokens, the audit log, connections, variables, and the event log for live updates. */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await withId(db.schema.createTable("app_user"), ctx)
    .addColumn("username", "text", (c) => c.notNull().unique())
    .addColumn("email", "text")
    .addColumn("first_name", "text")
    .addColumn("last_name", "text")
    .addColumn("password_hash", "text", notNull)
    .addColumn("active", "integer", (c) => c.notNull().defaultTo(1))
    // Bumped on password change or role removal: every token issued before stops working.
    .addColumn("token_version", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("created_at", "bigint", notNull)
    .addColumn("updated_at", "bigint", notNull)
    .addColumn("last_login_at", "bigint")
    .execute();

  await withId(db.schema.createTable("app_role"), ctx)
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("description", "text")
    .addColumn("permissions", "text", notNull)
    .addColumn("builtin", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "bigint", notNull)
    .execute();

  await db.schema
    .createTable("user_role")
    .addColumn("user_id", "bigint", (c) => c.notNull().references("app_user.id").onDelete("cascade"))
    .addColumn("role_id", "bigint", (c) => c.notNull().references("app_role.id").onDelete("cascade"))
    .addPrimaryKeyConstraint("user_role_pk", ["user_id", "role_id"])
    .execute();

  // Sessions: one per login; its refresh token is stored hashed; access tokens name it (sid).
  await withId(db.schema.createTable("auth_session"), ctx)
    .addColumn("user_id", "bigint", (c) => c.notNull().references("app_user.id").onDelete("cascade"))
    .addColumn("refresh_hash", "text", (c) => c.notNull().unique())
    .addColumn("created_at", "bigint", notNull)
    .addColumn("expires_at", "bigint", notNull)
    .addColumn("revoked_at", "bigint")
    .addColumn("source_ip", "text")
    .execute();

  await withId(db.schema.createTable("api_token"), ctx)
    .addColumn("user_id", "bigint", (c) => c.notNull().references("app_user.id").onDelete("cascade"))
    .addColumn("name", "text", notNull)
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("prefix", "text", notNull)
    .addColumn("created_at", "bigint", notNull)
    .addColumn("expires_at", "bigint", notNull)
    .addColumn("last_used_at", "bigint")
    .addColumn("revoked_at", "bigint")
    .execute();

  await withId(db.schema.createTable("audit_log"), ctx)
    .addColumn("ts", "bigint", notNull)
    .addColumn("user_id", "bigint")
    .addColumn("username", "text")
    .addColumn("action", "text", notNull)
    .addColumn("method", "text")
    .addColumn("path", "text")
    .addColumn("object_type", "text")
    .addColumn("object_id", "text")
    .addColumn("dag_id", "text")
    .addColumn("source_ip", "text")
    .addColumn("outcome", "text", notNull)
    .addColumn("status", "integer")
    .addColumn("details", "text")
    .execute();
  await db.schema.createIndex("audit_log_ts").on("audit_log").columns(["ts"]).execute();

  await db.schema
    .createTable("connection")
    .addColumn("conn_id", "text", (c) => c.primaryKey())
    .addColumn("conn_type", "text", notNull)
    .addColumn("description", "text")
    .addColumn("host", "text")
    .addColumn("schema_name", "text")
    .addColumn("login", "text")
    .addColumn("port", "integer")
    // Ciphertexts (AES-256-GCM, see src/security/secrets.ts); never plaintext.
    .addColumn("password_enc", "text")
    .addColumn("extra_enc", "text")
    .addColumn("created_at", "bigint", notNull)
    .addColumn("updated_at", "bigint", notNull)
    .execute();

  await db.schema
    .createTable("variable")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text")
    .addColumn("value_enc", "text")
    .addColumn("is_secret", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("description", "text")
    .addColumn("created_at", "bigint", notNull)
    .addColumn("updated_at", "bigint", notNull)
    .execute();

  // Key-value facts about the installation (e.g. a ciphertext that proves the secret key is right).
  await db.schema
    .createTable("updraft_meta")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text", notNull)
    .execute();

  // Append-only log of state changes, tailed by API servers for live updates; trimmed by age.
  await withId(db.schema.createTable("event"), ctx)
    .addColumn("ts", "bigint", notNull)
    .addColumn("kind", "text", notNull)
    .addColumn("dag_id", "text")
    .addColumn("payload", "text", notNull)
    .execute();
  await db.schema.createIndex("event_ts").on("event").columns(["ts"]).execute();

  await db.schema.alterTable("dag").addColumn("access", "text").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("dag").dropColumn("access").execute();
  for (const table of ["event", "updraft_meta", "variable", "connection", "audit_log", "api_token", "auth_session", "user_role", "app_role", "app_user"]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
