/** DAGs, their versions and import errors: what the DAG processor writes and everyone reads. */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { sql, type Kysely } from "kysely";
import type { SerializedDag } from "../dag/model.js";
import { nextScheduledRun } from "../dag/next-run.js";
import { UpdraftError } from "../errors/index.js";
import type { Store } from "./connect.js";
import { appendEvents, type StoredEvent } from "./events.js";
import { clearImportWarning } from "./import-warnings.js";
import type { Database, DagRow, DagVersionRow, ImportErrorRow } from "./schema.js";

export interface FileImportError {
  code: string;
  message: string;
  line: number | null;
  column: number | null;
  location: string | null;
  stack: string | null;
}

export interface FileResult {
  /** The DAGs folder (absolute) the file is in. */
  dagsFolder: string;
  /** The file, relative to the DAGs folder. */
  fileloc: string;
  dags: SerializedDag[];
  bundle: { hash: string; code: string } | null;
  source: string;
  /** Set when the file or one of its DAGs failed; DAGs that did import are still stored. */
  error: FileImportError | null;
  /** Files of the DAGs folder that exist now (to tell a moved DAG from a clash). */
  existingFiles: ReadonlySet<string>;
  pausedAtCreation: boolean;
  now: number;
  /**
   * Remove the file's import warning in the same transaction (type checking is off, or its
   * errors are import errors now). Left alone otherwise: a type check on its way replaces it.
   */
  clearWarning?: boolean;
}

export interface FileReport {
  created: string[];
  newVersions: string[];
  deactivated: string[];
  clashes: string[];
}

/** Advisory lock key for storing DAG processing results on PostgreSQL ("updr" in ASCII). */
const PROCESSING_LOCK = 0x75706472;

export function versionHash(bundleHash: string, dag: SerializedDag): string {
  return createHash("sha256").update(bundleHash).update("\0").update(JSON.stringify(dag)).digest("hex");
}

async function lastScheduledInterval(trx: Kysely<Database>, dagId: string) {
  const row = await trx
    .selectFrom("dag_run")
    .select(["data_interval_start as start", "data_interval_end as end"])
    .where("dag_id", "=", dagId)
    .where("run_type", "=", "scheduled")
    .orderBy("data_interval_end", "desc")
    .limit(1)
    .executeTakeFirst();
  return row ?? null;
}

/** Stores what importing one file produced, in one transaction. */
export async function recordFileResult(store: Store, result: FileResult): Promise<FileReport> {
  const report: FileReport = { created: [], newVersions: [], deactivated: [], clashes: [] };
  const errors: string[] = result.error ? [result.error.message] : [];
  let code = result.error?.code ?? null;
  await store.transaction(async (trx) => {
    // Processors (and one processor's parallel files) must not race on a new DAG id.
    if (store.dialect === "postgres") await sql`select pg_advisory_xact_lock(${PROCESSING_LOCK})`.execute(trx);
    if (result.bundle && result.dags.length > 0) {
      await trx
        .insertInto("dag_bundle")
        .values({ hash: result.bundle.hash, code: result.bundle.code, created_at: result.now })
        .onConflict((oc) => oc.column("hash").doNothing())
        .execute();
    }
    const defined = new Set<string>();
    for (const dag of result.dags) {
      const existing = await trx.selectFrom("dag").selectAll().where("dag_id", "=", dag.dagId).executeTakeFirst();
      const elsewhere = existing && (existing.fileloc !== dag.fileloc || existing.dags_folder !== result.dagsFolder);
      if (existing && elsewhere && existing.is_active === 1 && stillThere(existing, result)) {
        report.clashes.push(dag.dagId);
        code ??= "UPDRAFT_E_DUPLICATE_DAG_ID";
        const where = existing.dags_folder === result.dagsFolder ? existing.fileloc : join(existing.dags_folder, existing.fileloc);
        errors.push(`DAG id '${dag.dagId}' is already defined in ${where}; DAG ids must be unique`);
        continue;
      }
      defined.add(dag.dagId);
      const hash = versionHash(result.bundle!.hash, dag);
      let versionId = existing?.latest_version_id ?? null;
      const latest = versionId === null ? undefined : await trx.selectFrom("dag_version").select(["hash", "version_number"]).where("id", "=", versionId).executeTakeFirst();
      if (!latest || latest.hash !== hash) {
        const max = await trx.selectFrom("dag_version").select((eb) => eb.fn.max("version_number").as("n")).where("dag_id", "=", dag.dagId).executeTakeFirst();
        if (!existing) {
          await trx.insertInto("dag").values(dagRow(dag, result, null)).execute();
          report.created.push(dag.dagId);
        }
        const inserted = await trx
          .insertInto("dag_version")
          .values({
            dag_id: dag.dagId,
            version_number: Number(max?.n ?? 0) + 1,
            hash,
            bundle_hash: result.bundle!.hash,
            structure: JSON.stringify(dag),
            source: result.source,
            created_at: result.now,
          })
          .returning("id")
          .executeTakeFirstOrThrow();
        versionId = Number(inserted.id);
        if (existing) report.newVersions.push(dag.dagId);
      }
      const firstSeen = existing?.created_at ?? result.now;
      const next = nextScheduledRun(dag, await lastScheduledInterval(trx, dag.dagId), firstSeen, result.now);
      const { created_at: _c, is_paused: _p, ...row } = dagRow(dag, result, versionId);
      await trx
        .updateTable("dag")
        .set({
          ...row,
          next_dagrun_create_after: next?.runAfter ?? null,
          next_dagrun_interval_start: next?.interval.start ?? null,
          next_dagrun_interval_end: next?.interval.end ?? null,
        })
        .where("dag_id", "=", dag.dagId)
        .execute();
    }
    // A file that imported cleanly defines exactly its DAGs now; one that failed keeps the DAGs
    // it had, so a typo does not take a working DAG away.
    if (!result.error) {
      const gone = await trx
        .updateTable("dag")
        .set({ is_active: 0, updated_at: result.now })
        .where("dags_folder", "=", result.dagsFolder)
        .where("fileloc", "=", result.fileloc)
        .where("is_active", "=", 1)
        .$if(defined.size > 0, (q) => q.where("dag_id", "not in", [...defined]))
        .returning("dag_id")
        .execute();
      report.deactivated.push(...gone.map((g) => g.dag_id));
    }
    const hadError = await trx.selectFrom("import_error").select("id").where("dags_folder", "=", result.dagsFolder).where("fileloc", "=", result.fileloc).executeTakeFirst();
    await trx.deleteFrom("import_error").where("dags_folder", "=", result.dagsFolder).where("fileloc", "=", result.fileloc).execute();
    if (errors.length > 0) {
      await trx
        .insertInto("import_error")
        .values({
          dags_folder: result.dagsFolder,
          fileloc: result.fileloc,
          code: code ?? "UPDRAFT_E_IMPORT_FAILED",
          message: errors.join("\n"),
          line: result.error?.line ?? null,
          column: result.error?.column ?? null,
          location: result.error?.location ?? null,
          stack: result.error?.stack ?? null,
          created_at: result.now,
        })
        .execute();
    }
    const events: StoredEvent[] = [];
    for (const dagId of [...report.created, ...report.newVersions]) {
      const v = await trx.selectFrom("dag as d").innerJoin("dag_version as v", "v.id", "d.latest_version_id").select("v.version_number").where("d.dag_id", "=", dagId).executeTakeFirst();
      if (v) events.push({ kind: "dag-version", dag_id: dagId, version_number: v.version_number });
    }
    for (const dagId of report.deactivated) events.push({ kind: "dag-updated", dag_id: dagId, is_active: false });
    if (errors.length > 0 || hadError) {
      const ofFile = await trx.selectFrom("dag").select("dag_id").where("dags_folder", "=", result.dagsFolder).where("fileloc", "=", result.fileloc).execute();
      events.push({ kind: "import-error", dags_folder: result.dagsFolder, fileloc: result.fileloc, dag_ids: ofFile.map((d) => d.dag_id), message: errors.length > 0 ? errors.join("\n") : null });
    }
    await appendEvents({ db: trx, dialect: store.dialect }, events, result.now, store.eventChannel);
    if (result.clearWarning) await clearImportWarning(store, trx, result.dagsFolder, result.fileloc, result.now);
  });
  return report;
}

/** Whether the file that defines `dag` still exists (in the folder being scanned, or on disk). */
function stillThere(dag: DagRow, result: FileResult): boolean {
  return dag.dags_folder === result.dagsFolder ? result.existingFiles.has(dag.fileloc) : existsSync(join(dag.dags_folder, dag.fileloc));
}

function dagRow(dag: SerializedDag, result: FileResult, versionId: number | null) {
  return {
    dag_id: dag.dagId,
    dags_folder: result.dagsFolder,
    fileloc: dag.fileloc,
    is_active: 1,
    is_paused: result.pausedAtCreation ? 1 : 0,
    owner: dag.owner,
    description: dag.description,
    tags: JSON.stringify(dag.tags),
    schedule: JSON.stringify(dag.schedule),
    schedule_description: dag.scheduleDescription,
    timezone: dag.timezone,
    max_active_runs: dag.maxActiveRuns,
    max_active_tasks: dag.maxActiveTasks,
    latest_version_id: versionId,
    created_at: result.now,
    updated_at: result.now,
    last_parsed_at: result.now,
    access: dag.access ? JSON.stringify(dag.access) : null,
  };
}

/**
 * Files of `dagsFolder` that are gone: their DAGs become inactive (history kept) and their import
 * errors and warnings go. DAGs of other folders are not touched.
 */
export async function forgetMissingFiles(store: Store, dagsFolder: string, existingFiles: ReadonlySet<string>, now: number): Promise<string[]> {
  return store.transaction(async (trx) => {
    const dags = await trx.selectFrom("dag").select(["dag_id", "fileloc"]).where("is_active", "=", 1).where("dags_folder", "=", dagsFolder).execute();
    const gone = dags.filter((d) => !existingFiles.has(d.fileloc)).map((d) => d.dag_id);
    if (gone.length > 0) await trx.updateTable("dag").set({ is_active: 0, updated_at: now }).where("dag_id", "in", gone).execute();
    const errors = await trx.selectFrom("import_error").select("fileloc").where("dags_folder", "=", dagsFolder).execute();
    const stale = errors.filter((e) => !existingFiles.has(e.fileloc)).map((e) => e.fileloc);
    if (stale.length > 0) await trx.deleteFrom("import_error").where("dags_folder", "=", dagsFolder).where("fileloc", "in", stale).execute();
    const warned = await trx.selectFrom("import_warning").select("fileloc").where("dags_folder", "=", dagsFolder).execute();
    const staleWarnings = warned.filter((w) => !existingFiles.has(w.fileloc)).map((w) => w.fileloc);
    if (staleWarnings.length > 0) await trx.deleteFrom("import_warning").where("dags_folder", "=", dagsFolder).where("fileloc", "in", staleWarnings).execute();
    return gone;
  });
}

// ---- reads -----------------------------------------------------------------------------------

export async function getDag(db: Kysely<Database>, dagId: string): Promise<DagRow | undefined> {
  return db.selectFrom("dag").selectAll().where("dag_id", "=", dagId).executeTakeFirst();
}

/**
 * The DAG, or UPDRAFT_E_DAG_NOT_FOUND naming the import errors of files that would define it
 * (see importErrorsForDag) and the DAGs that exist.
 */
export async function requireDag(db: Kysely<Database>, dagId: string): Promise<DagRow> {
  const dag = await getDag(db, dagId);
  if (dag) return dag;
  const errors = await importErrorsForDag(db, dagId);
  const known = await db.selectFrom("dag").select("dag_id").where("is_active", "=", 1).orderBy("dag_id").limit(20).execute();
  throw dagNotFoundError(dagId, errors, known.length ? `known DAGs: ${known.map((d) => d.dag_id).join(", ")}` : "no DAGs are registered yet: check the DAGs folder and `updraft dags list-import-errors`");
}

/** Import errors looked at for a DAG id that is not found: enough for any real DAGs folder, few enough to answer quickly. */
const MAX_ERRORS_SCANNED = 50;
const MAX_SCANNED_FILE_BYTES = 1024 * 1024;

/**
 * Import errors of the files that would define `dagId`. The import error records the file, not
 * the DAG ids (a file that fails to import may never have said them), so a file counts when:
 * the DAG's row names it (a DAG its file defined before it broke; `byRow: false` leaves this out),
 * its name without the extension is the DAG id, or its text holds the id as a quoted string (read
 * from the DAGs folder when this process can see it; for at most 50 import errors).
 */
export async function importErrorsForDag(db: Kysely<Database>, dagId: string, options: { byRow?: boolean } = {}): Promise<ImportErrorRow[]> {
  const row = options.byRow === false ? undefined : await db.selectFrom("dag").select(["dags_folder", "fileloc"]).where("dag_id", "=", dagId).executeTakeFirst();
  if (row) {
    return db.selectFrom("import_error").selectAll().where("dags_folder", "=", row.dags_folder).where("fileloc", "=", row.fileloc).execute();
  }
  const errors = await db.selectFrom("import_error").selectAll().orderBy("fileloc").orderBy("id").limit(MAX_ERRORS_SCANNED + 1).execute();
  const quoted = [`"${dagId}"`, `'${dagId}'`, `\`${dagId}\``];
  return errors.filter((e, i) => basename(e.fileloc, extname(e.fileloc)) === dagId || (i < MAX_ERRORS_SCANNED && fileMentions(join(e.dags_folder, e.fileloc), quoted)));
}

function fileMentions(file: string, needles: string[]): boolean {
  try {
    if (statSync(file).size > MAX_SCANNED_FILE_BYTES) return false;
    const text = readFileSync(file, "utf8");
    return needles.some((n) => text.includes(n));
  } catch {
    return false; // gone, unreadable, or not on this machine (an API server without the DAGs folder)
  }
}

/** "file:line:column [code] first line of the message", the form every not-found message uses. */
export function describeImportError(e: Pick<ImportErrorRow, "fileloc" | "line" | "column" | "location" | "code" | "message">): string {
  const where = `${e.fileloc}${e.line !== null ? `:${e.line}${e.column !== null ? `:${e.column}` : ""}` : ""}`;
  let first = e.message.split("\n", 1)[0]!.trim();
  // Bundler messages start with the place already ("gamma.ts:3:48: Unexpected …"): said once.
  for (const prefix of [where, e.location]) if (prefix && first.startsWith(`${prefix}: `)) first = first.slice(prefix.length + 2);
  return `${where} [${e.code}] ${first.length > 300 ? `${first.slice(0, 300)}…` : first}`;
}

/** The import errors of a not-found DAG as `details` carry them (to programs; the API, to callers who may read them). */
export function importErrorDetails(errors: ImportErrorRow[]) {
  return errors.map((e) => ({ filename: e.fileloc, line: e.line, column: e.column, code: e.code, message: e.message }));
}

/**
 * UPDRAFT_E_DAG_NOT_FOUND for `dagId`, built in this one place: with the import errors of the
 * files that would define it (the reason it is missing) in the message, the hint and `details`,
 * or with `otherwise` as the hint when there are none.
 */
export function dagNotFoundError(dagId: string, importErrors: ImportErrorRow[], otherwise?: string): UpdraftError {
  if (importErrors.length === 0) return new UpdraftError("UPDRAFT_E_DAG_NOT_FOUND", `DAG '${dagId}' not found`, otherwise ? { hint: otherwise } : {});
  const list = importErrors.map(describeImportError);
  const message =
    list.length === 1
      ? `DAG '${dagId}' not found, and a file that may define it failed to import: ${list[0]}`
      : `DAG '${dagId}' not found, and files that may define it failed to import:\n${list.map((l) => `  ${l}`).join("\n")}`;
  return new UpdraftError("UPDRAFT_E_DAG_NOT_FOUND", message, {
    hint: "fix the file: the DAG processor picks it up within seconds (`updraft dags list-import-errors` or GET /api/v1/importErrors shows the whole error)",
    details: { import_errors: importErrorDetails(importErrors) },
  });
}

export async function listDags(db: Kysely<Database>, options: { includeInactive?: boolean } = {}): Promise<DagRow[]> {
  return db
    .selectFrom("dag")
    .selectAll()
    .$if(!options.includeInactive, (q) => q.where("is_active", "=", 1))
    .orderBy("dag_id")
    .execute();
}

export async function getDagVersion(db: Kysely<Database>, versionId: number): Promise<DagVersionRow> {
  const row = await db.selectFrom("dag_version").selectAll().where("id", "=", versionId).executeTakeFirst();
  if (!row) throw new UpdraftError("UPDRAFT_E_DAG_VERSION_NOT_FOUND", `DAG version ${versionId} not found`);
  return row;
}

export async function latestStructure(db: Kysely<Database>, dag: DagRow): Promise<{ versionId: number; structure: SerializedDag }> {
  if (dag.latest_version_id === null) {
    throw new UpdraftError("UPDRAFT_E_DAG_VERSION_NOT_FOUND", `DAG '${dag.dag_id}' has no stored version`, { hint: "check `updraft dags list-import-errors`" });
  }
  const version = await getDagVersion(db, dag.latest_version_id);
  return { versionId: version.id, structure: JSON.parse(version.structure) as SerializedDag };
}

/** The latest version of the DAG named `dagId`, or UPDRAFT_E_DAG_NOT_FOUND. */
export async function latestStructureOf(db: Kysely<Database>, dagId: string): Promise<{ versionId: number; structure: SerializedDag }> {
  return latestStructure(db, await requireDag(db, dagId));
}

export async function getBundleCode(db: Kysely<Database>, hash: string): Promise<string> {
  const row = await db.selectFrom("dag_bundle").select("code").where("hash", "=", hash).executeTakeFirst();
  if (!row) throw new UpdraftError("UPDRAFT_E_DAG_VERSION_NOT_FOUND", `the DAG bundle ${hash.slice(0, 12)} is not stored`);
  return row.code;
}

export async function listImportErrors(db: Kysely<Database>): Promise<ImportErrorRow[]> {
  return db.selectFrom("import_error").selectAll().orderBy("fileloc").execute();
}

export async function setPaused(store: Store, dagId: string, paused: boolean): Promise<DagRow> {
  const dag = await requireDag(store.db, dagId);
  const now = Date.now();
  await store.transaction(async (trx) => {
    await trx.updateTable("dag").set({ is_paused: paused ? 1 : 0, updated_at: now }).where("dag_id", "=", dagId).execute();
    await appendEvents({ db: trx, dialect: store.dialect }, [{ kind: "dag-updated", dag_id: dagId, is_paused: paused }], now, store.eventChannel);
  });
  await store.notify();
  return { ...dag, is_paused: paused ? 1 : 0 };
}

/**
 * Deletes a DAG with its whole history: versions, runs, task instances, tries, logs and XComs go
 * with it (foreign keys cascade); the import error of its file stays, as it belongs to the file.
 * Refused while a task of the DAG is queued or running, as Airflow refuses it. If the file is still
 * in a DAGs folder, the DAG processor registers the DAG again, as new, the next time it reads it.
 * The API's DELETE /dags/{dag_id} and `updraft dags delete` both come here.
 */
export async function deleteDag(store: Store, dagId: string): Promise<{ runs: number }> {
  const now = Date.now();
  const runs = await store.transaction(async (trx) => {
    if (!(await trx.selectFrom("dag").select("dag_id").where("dag_id", "=", dagId).executeTakeFirst())) {
      throw dagNotFoundError(dagId, [], "`updraft dags list --include-inactive` lists the DAGs there are");
    }
    const busy = await trx.selectFrom("task_instance").select(["task_id"]).where("dag_id", "=", dagId).where("state", "in", ["queued", "running"]).orderBy("id").limit(10).execute();
    if (busy.length > 0) {
      throw new UpdraftError("UPDRAFT_E_INVALID_STATE", `DAG '${dagId}' has tasks on their way (${[...new Set(busy.map((b) => b.task_id))].join(", ")})`, {
        hint: "pause the DAG and let them finish (or mark their runs failed), then delete it",
      });
    }
    const counted = await trx.selectFrom("dag_run").select((eb) => eb.fn.countAll<number>().as("n")).where("dag_id", "=", dagId).executeTakeFirstOrThrow();
    await trx.deleteFrom("dag").where("dag_id", "=", dagId).execute();
    await appendEvents({ db: trx, dialect: store.dialect }, [{ kind: "dag-updated", dag_id: dagId, is_active: false, deleted: true }], now, store.eventChannel);
    return Number(counted.n);
  });
  await store.notify();
  return { runs };
}
