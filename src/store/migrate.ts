import { Migrator, NO_MIGRATIONS, sql, type Kysely } from "kysely";
import { UpdraftError } from "../errors/index.js";
import type { Store } from "./connect.js";
import { migrationProvider } from "./migrations/index.js";
import type { Database } from "./schema.js";

export interface MigrationReport {
  applied: string[];
}

function migrator(store: Store, db: Kysely<Database> = store.db): Migrator {
  return new Migrator({
    db,
    provider: migrationProvider({ dialect: store.dialect }),
    migrationTableName: "updraft_migration",
    migrationLockTableName: "updraft_migration_lock",
    // Kysely looks for its tables in every schema unless told which one; name ours.
    ...(store.schema ? { migrationTableSchema: store.schema } : {}),
  });
}

/** How long a process waits for another one's migration before giving up. */
const MIGRATION_WAIT_MS = 120_000;

/**
 * Brings the schema up to date; running it again does nothing. Several processes may start at
 * once on a fresh database: one migrates while the others wait, then find nothing left to do.
 * PostgreSQL: Kysely takes a transaction-level advisory lock around the migrations. SQLite:
 * Kysely takes none (it assumes one connection), so the migrations run inside one BEGIN
 * IMMEDIATE transaction, the database's write lock, held until they are all applied (SQLite's
 * DDL is transactional: a failed migration leaves nothing behind); a process that finds the lock
 * held waits for it (the busy timeout, again until MIGRATION_WAIT_MS).
 */
export async function migrate(store: Store): Promise<MigrationReport> {
  if (store.dialect !== "sqlite") return migrateWith(store, store.db);
  const deadline = Date.now() + MIGRATION_WAIT_MS;
  for (;;) {
    try {
      return await store.transaction((trx) => migrateWith(store, trx));
    } catch (error) {
      const busy = /SQLITE_BUSY/.test(String((error as { code?: unknown }).code ?? "")) || /SQLITE_BUSY/.test(String(((error as { cause?: { code?: unknown } }).cause)?.code ?? ""));
      if (!busy || Date.now() > deadline) throw error;
    }
  }
}

async function migrateWith(store: Store, db: Kysely<Database>): Promise<MigrationReport> {
  const { error, results } = await migrator(store, db).migrateToLatest();
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
