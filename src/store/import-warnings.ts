/**
 * Import warnings: a DAG file's type errors while its DAGs registered anyway (typeCheck "warn").
 * The type check runs after the file's DAGs were stored, so its result is written on its own,
 * later; one row per file, replaced by each check.
 */
import type { Kysely } from "kysely";
import type { Store } from "./connect.js";
import { appendEvents } from "./events.js";
import type { Database, ImportWarningRow } from "./schema.js";

export interface FileImportWarning {
  code: string;
  message: string;
  line: number | null;
  column: number | null;
  location: string | null;
}

async function fileDagIds(trx: Kysely<Database>, dagsFolder: string, fileloc: string): Promise<string[]> {
  const rows = await trx.selectFrom("dag").select("dag_id").where("dags_folder", "=", dagsFolder).where("fileloc", "=", fileloc).execute();
  return rows.map((d) => d.dag_id);
}

/**
 * Sets (or with `warning` null, clears) the warning of one file, with an `import-warning` event
 * when it changed. Returns whether it changed.
 */
export async function recordImportWarning(store: Store, input: { dagsFolder: string; fileloc: string; warning: FileImportWarning | null; now: number }): Promise<boolean> {
  return store.transaction(async (trx) => {
    const { dagsFolder, fileloc, warning, now } = input;
    const existing = await trx.selectFrom("import_warning").selectAll().where("dags_folder", "=", dagsFolder).where("fileloc", "=", fileloc).executeTakeFirst();
    if (!warning) return clearImportWarning(store, trx, dagsFolder, fileloc, now);
    if (existing && existing.code === warning.code && existing.message === warning.message) return false;
    const row = { code: warning.code, message: warning.message, line: warning.line, column: warning.column, location: warning.location, created_at: now };
    await trx
      .insertInto("import_warning")
      .values({ dags_folder: dagsFolder, fileloc, ...row })
      .onConflict((oc) => oc.columns(["dags_folder", "fileloc"]).doUpdateSet(row))
      .execute();
    const dagIds = await fileDagIds(trx, dagsFolder, fileloc);
    await appendEvents({ db: trx, dialect: store.dialect }, [{ kind: "import-warning", dags_folder: dagsFolder, fileloc, dag_ids: dagIds, message: warning.message }], now, store.eventChannel);
    return true;
  });
}

/** Removes a file's warning in the caller's transaction (with its event); whether there was one. */
export async function clearImportWarning(store: Store, trx: Kysely<Database>, dagsFolder: string, fileloc: string, now: number): Promise<boolean> {
  const gone = await trx.deleteFrom("import_warning").where("dags_folder", "=", dagsFolder).where("fileloc", "=", fileloc).returning("id").execute();
  if (gone.length === 0) return false;
  const dagIds = await fileDagIds(trx, dagsFolder, fileloc);
  await appendEvents({ db: trx, dialect: store.dialect }, [{ kind: "import-warning", dags_folder: dagsFolder, fileloc, dag_ids: dagIds, message: null }], now, store.eventChannel);
  return true;
}

export async function listImportWarnings(db: Kysely<Database>, options: { dagsFolder?: string } = {}): Promise<ImportWarningRow[]> {
  return db
    .selectFrom("import_warning")
    .selectAll()
    .$if(options.dagsFolder !== undefined, (q) => q.where("dags_folder", "=", options.dagsFolder!))
    .orderBy("fileloc")
    .execute();
}
