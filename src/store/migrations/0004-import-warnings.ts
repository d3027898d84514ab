import type { Kysely } from "kysely";
import type { MigrationContext } from "./index.js";

/**
 * Import warnings: what a DAG file's type check found while its DAGs registered anyway
 * (`typeCheck: "warn"`). One row per file of a DAGs folder, like `import_error`; a table of its
 * own, so that everything reading import errors keeps meaning "the file failed".
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const table = db.schema.createTable("import_warning");
  await (ctx.dialect === "sqlite"
    ? table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    : table.addColumn("id", "bigint", (c) => c.primaryKey().generatedByDefaultAsIdentity())
  )
    .addColumn("dags_folder", "text", (c) => c.notNull())
    .addColumn("fileloc", "text", (c) => c.notNull())
    .addColumn("code", "text", (c) => c.notNull())
    .addColumn("message", "text", (c) => c.notNull())
    .addColumn("line", "integer")
    .addColumn("column", "integer")
    .addColumn("location", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addUniqueConstraint("import_warning_file", ["dags_folder", "fileloc"])
    .execute();
}

export async function down(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.dropTable("import_warning").ifExists().execute();
}
