import { Migrator, NO_MIGRATIONS, sql } from "kysely";
import { UpdraftError } from "../errors/index.js";
import type { Store } from "./connect.js";
import { migrationProvider } from "./migrations/index.js";

export interface MigrationReport {
  applied: string[];
}

function migrator(store: Store): Migrator {
  return new Migrator({
    db: store.db,
    provider: migrationProvider({ dialect: store.dialect }),
    migrationTableName: "updraft_migration",
    migrationLockTableName: "updraft_migration_lock",
    // Kysely looks for its tables in every schema unless told which one; name ours.
    ...(store.schema ? { migrationTableSchema: store.schema } : {}),
  });
}

/** Brings the schema up to date; running it again does nothing. */
export async function migrate(store: Store): Promise<MigrationReport> {
  const { error, results } = await migrator(store).migrateToLatest();
  if (error) {
    throw new UpdraftError("UPDRAFT_E_MIGRATION", `database migration failed: ${(error as Error).message}`, {
      hint: "the database was left at the last migration that succeeded; fix the cause and run `updraft db migrate` again",
      cause: error,
    });
  }
  return { applied: (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName) };
}

/** Drops every Updraft table and migrates again: all metadata is lost. */
export async function resetDatabase(store: Store): Promise<void> {
  const { error } = await migrator(store).migrateTo(NO_MIGRATIONS);
  if (error) throw new UpdraftError("UPDRAFT_E_MIGRATION", `database reset failed: ${(error as Error).message}`, { cause: error });
  const prefix = store.schema ? `"${store.schema}".` : "";
  await sql.raw(`drop table if exists ${prefix}updraft_migration`).execute(store.db);
  await sql.raw(`drop table if exists ${prefix}updraft_migration_lock`).execute(store.db);
  await migrate(store);
}
