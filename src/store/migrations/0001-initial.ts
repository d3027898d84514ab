import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely } from "kysely";
import { sql } from "kysely";
import type { MigrationContext } from "./index.js";

type Table = CreateTableBuilder<string, string>;

/** An auto-increment primary key in the dialect's own way. */
function withId(table: Table, ctx: MigrationContext): Table {
  return ctx.dialect === "sqlite"
    ? table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    : table.addColumn("id", "bigint", (c) => c.primaryKey().generatedByDefaultAsIdentity());
}

const notNull = (c: ColumnDefinitionBuilder) => c.notNull();

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable("dag")
    .addColumn("dag_id", "text", (c) => c.primaryKey())
    .addColumn("dags_folder", "text", notNull)
    .addColumn("fileloc", "text", notNull)
    .addColumn("is_active", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("is_paused", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("owner", "text", notNull)
    .addColumn("description", "text")
    .addColumn("tags", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("schedule", "text", notNull)
    .addColumn("schedule_description", "text", notNull)
    .addColumn("timezone", "text", notNull)
    .addColumn("max_active_runs", "integer", notNull)
    .addColumn("max_active_tasks", "integer", notNull)
    .addColumn("latest_version_id", "bigint")
    .addColumn("next_dagrun_create_after", "bigint")
    .addColumn("next_dagrun_interval_start", "bigint")
    .addColumn("next_dagrun_interval_end", "bigint")
    .addColumn("created_at", "bigint", notNull)
    .addColumn("updated_at", "bigint", notNull)
    .addColumn("last_parsed_at", "bigint")
    .execute();
  await db.schema.createIndex("dag_next_run").on("dag").columns(["is_active", "is_paused", "next_dagrun_create_after"]).execute();

  await db.schema
    .createTable("dag_bundle")
    .addColumn("hash", "text", (c) => c.primaryKey())
    .addColumn("code", "text", notNull)
    .addColumn("created_at", "bigint", notNull)
    .execute();

  await withId(db.schema.createTable("dag_version"), ctx)
    .addColumn("dag_id", "text", (c) => c.notNull().references("dag.dag_id").onDelete("cascade"))
    .addColumn("version_number", "integer", notNull)
    .addColumn("hash", "text", notNull)
    .addColumn("bundle_hash", "text", (c) => c.notNull().references("dag_bundle.hash"))
    .addColumn("structure", "text", notNull)
    .addColumn("source", "text", notNull)
    .addColumn("created_at", "bigint", notNull)
    .addUniqueConstraint("dag_version_number", ["dag_id", "version_number"])
    .execute();

  await withId(db.schema.createTable("import_error"), ctx)
    .addColumn("dags_folder", "text", notNull)
    .addColumn("fileloc", "text", notNull)
    .addColumn("code", "text", notNull)
    .addColumn("message", "text", notNull)
    .addColumn("line", "integer")
    .addColumn("column", "integer")
    .addColumn("location", "text")
    .addColumn("stack", "text")
    .addColumn("created_at", "bigint", notNull)
    .addUniqueConstraint("import_error_file", ["dags_folder", "fileloc"])
    .execute();

  await withId(db.schema.createTable("dag_run"), ctx)
    .addColumn("dag_id", "text", (c) => c.notNull().references("dag.dag_id").onDelete("cascade"))
    .addColumn("run_id", "text", notNull)
    .addColumn("dag_version_id", "bigint", (c) => c.notNull().references("dag_version.id"))
    .addColumn("run_type", "text", notNull)
    .addColumn("state", "text", notNull)
    .addColumn("logical_date", "bigint", notNull)
    .addColumn("data_interval_start", "bigint", notNull)
    .addColumn("data_interval_end", "bigint", notNull)
    .addColumn("run_after", "bigint", notNull)
    .addColumn("conf", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("params", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("note", "text")
    .addColumn("queued_at", "bigint")
    .addColumn("start_date", "bigint")
    .addColumn("end_date", "bigint")
    .addColumn("created_at", "bigint", notNull)
    .addColumn("updated_at", "bigint", notNull)
    .addUniqueConstraint("dag_run_id_unique", ["dag_id", "run_id"])
    .execute();
  await db.schema.createIndex("dag_run_state").on("dag_run").columns(["state", "dag_id"]).execute();
  await db.schema.createIndex("dag_run_logical").on("dag_run").columns(["dag_id", "logical_date"]).execute();
  // One scheduled run per logical date: a second scheduler racing to create it fails the insert.
  await db.schema
    .createIndex("dag_run_scheduled_unique")
    .on("dag_run")
    .columns(["dag_id", "logical_date"])
    .unique()
    .where(sql.ref("run_type"), "=", "scheduled")
    .execute();

  await withId(db.schema.createTable("task_instance"), ctx)
    .addColumn("dag_run_id", "bigint", (c) => c.notNull().references("dag_run.id").onDelete("cascade"))
    .addColumn("dag_id", "text", notNull)
    .addColumn("task_id", "text", notNull)
    .addColumn("state", "text", notNull)
    .addColumn("try_number", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("max_tries", "integer", notNull)
    .addColumn("try_id", "text")
    .addColumn("priority_weight", "integer", notNull)
    .addColumn("pool", "text", notNull)
    .addColumn("pool_slots", "integer", notNull)
    .addColumn("queue", "text", notNull)
    .addColumn("operator", "text", notNull)
    .addColumn("scheduled_at", "bigint")
    .addColumn("queued_at", "bigint")
    .addColumn("start_date", "bigint")
    .addColumn("end_date", "bigint")
    .addColumn("duration_ms", "integer")
    .addColumn("next_retry_at", "bigint")
    .addColumn("hostname", "text")
    .addColumn("pid", "integer")
    .addColumn("job_id", "bigint")
    .addColumn("note", "text")
    .addColumn("updated_at", "bigint", notNull)
    .addUniqueConstraint("task_instance_unique", ["dag_run_id", "task_id"])
    .execute();
  await db.schema.createIndex("ti_run_state").on("task_instance").columns(["dag_run_id", "state"]).execute();
  // The dispatch queue: ready task instances, best first.
  await db.schema
    .createIndex("ti_ready")
    .on("task_instance")
    .columns(["priority_weight desc", "id"])
    .where(sql.ref("state"), "=", "scheduled")
    .execute();
  await db.schema.createIndex("ti_retry").on("task_instance").columns(["next_retry_at"]).where(sql.ref("state"), "=", "up_for_retry").execute();
  await db.schema
    .createIndex("ti_active")
    .on("task_instance")
    .columns(["dag_id", "pool"])
    .where(sql.ref("state"), "in", sql`('queued', 'running')`)
    .execute();

  await withId(db.schema.createTable("task_try"), ctx)
    .addColumn("ti_id", "bigint", (c) => c.notNull().references("task_instance.id").onDelete("cascade"))
    .addColumn("dag_run_id", "bigint", notNull)
    .addColumn("dag_id", "text", notNull)
    .addColumn("task_id", "text", notNull)
    .addColumn("try_number", "integer", notNull)
    .addColumn("try_id", "text", notNull)
    .addColumn("state", "text", notNull)
    .addColumn("queued_at", "bigint")
    .addColumn("start_date", "bigint")
    .addColumn("end_date", "bigint", notNull)
    .addColumn("duration_ms", "integer")
    .addColumn("hostname", "text")
    .addColumn("pid", "integer")
    .addColumn("error", "text")
    .execute();
  await db.schema.createIndex("task_try_ti").on("task_try").columns(["ti_id", "try_number"]).execute();

  await db.schema
    .createTable("xcom")
    .addColumn("dag_run_id", "bigint", (c) => c.notNull().references("dag_run.id").onDelete("cascade"))
    .addColumn("task_id", "text", notNull)
    .addColumn("key", "text", notNull)
    .addColumn("value", "text", notNull)
    .addColumn("created_at", "bigint", notNull)
    .addPrimaryKeyConstraint("xcom_pk", ["dag_run_id", "task_id", "key"])
    .execute();

  await withId(db.schema.createTable("task_log"), ctx)
    .addColumn("ti_id", "bigint", (c) => c.notNull().references("task_instance.id").onDelete("cascade"))
    .addColumn("try_number", "integer", notNull)
    .addColumn("ts", "bigint", notNull)
    .addColumn("stream", "text", notNull)
    .addColumn("level", "text", notNull)
    .addColumn("message", "text", notNull)
    .execute();
  await db.schema.createIndex("task_log_try").on("task_log").columns(["ti_id", "try_number", "id"]).execute();

  await db.schema
    .createTable("pool")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("slots", "integer", notNull)
    .addColumn("description", "text")
    .addColumn("include_deferred", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await db
    .insertInto("pool" as never)
    .values({ name: "default_pool", slots: 128, description: "Default pool", include_deferred: 0 } as never)
    .execute();

  await withId(db.schema.createTable("job"), ctx)
    .addColumn("kind", "text", notNull)
    .addColumn("hostname", "text", notNull)
    .addColumn("pid", "integer", notNull)
    .addColumn("state", "text", notNull)
    .addColumn("started_at", "bigint", notNull)
    .addColumn("heartbeat_at", "bigint", notNull)
    .addColumn("stopped_at", "bigint")
    .execute();
  await db.schema.createIndex("job_state").on("job").columns(["state", "kind"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["job", "pool", "task_log", "xcom", "task_try", "task_instance", "dag_run", "import_error", "dag_version", "dag_bundle", "dag"]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
