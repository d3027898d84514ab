/** Creating DAG runs with their task instances: scheduled ones (scheduler) and manual ones (CLI, API). */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { RunType, SerializedDag } from "../dag/model.js";
import { resolveParams } from "../dag/params.js";
import { UpdraftError } from "../errors/index.js";
import type { Store } from "../store/connect.js";
import { chunk } from "../store/batch.js";
import { dialectSql, exec, rows, statement, type Columns, type SqlContext } from "../store/sql.js";
import { appendEvents } from "../store/events.js";
import { describeImportError, importErrorDetails, importErrorsForDag, latestStructure, requireDag } from "../store/dags.js";
import type { NewTaskInstance } from "../store/schema.js";
import { parseDate, restoreTimetable, type DataInterval } from "../timetable/index.js";

export interface NewRun {
  dagId: string;
  versionId: number;
  structure: SerializedDag;
  runType: RunType;
  runId: string;
  logicalDate: number;
  interval: DataInterval;
  runAfter: number;
  conf: Record<string, unknown>;
  note: string | null;
  now: number;
}

export function defaultRunId(runType: RunType, logicalDate: number): string {
  const iso = new Date(logicalDate).toISOString().replace(/\.000Z$/, "Z").replace("Z", "+00:00");
  return runType === "test" ? `test__${iso}__${randomBytes(3).toString("hex")}` : `${runType}__${iso}`;
}

// Not made of dots and "~" only: ".." in a path means something else, "~" means every run.
const RUN_ID_RE = /^(?![.~]+$)[A-Za-z0-9_.:+~-]{1,250}$/;

export function checkRunId(runId: string): string {
  // "~" stands for "every run" in API paths, as in Airflow's.
  if (!RUN_ID_RE.test(runId)) {
    throw new UpdraftError("UPDRAFT_E_INVALID_ID", `run id ${JSON.stringify(runId.length > 80 ? `${runId.slice(0, 80)}…` : runId)} is not valid`, {
      hint: 'use 1–250 letters, digits and "_ . : + ~ -", not dots or "~" alone',
    });
  }
  return runId;
}

/**
 * Inserts the run (state queued) and one task instance per task (state none). Returns the new
 * run's id, or null when a scheduled run for that logical date exists already (another
 * scheduler made it first).
 */
const ANALYZE_AFTER = 1_000;

const TI_COLUMNS: Columns = [
  ["dag_run_id", "bigint"], ["dag_id", "text"], ["task_id", "text"], ["state", "text"], ["try_number", "integer"], ["max_tries", "integer"],
  ["priority_weight", "integer"], ["pool", "text"], ["pool_slots", "integer"], ["queue", "text"], ["operator", "text"], ["updated_at", "bigint"],
];
const TI_NAMES = TI_COLUMNS.map(([n]) => n).join(", ");
const INSERT_TIS = statement((d) => `insert into task_instance (${TI_NAMES}) select ${TI_NAMES} from ${d.rows(TI_COLUMNS)}`);

export async function insertDagRun(ctx: SqlContext, run: NewRun): Promise<number | null> {
  const trx = ctx.db;
  const params = resolveParams(run.structure.params, run.conf);
  const values = {
    dag_id: run.dagId,
    run_id: run.runId,
    dag_version_id: run.versionId,
    run_type: run.runType,
    state: "queued",
    logical_date: run.logicalDate,
    data_interval_start: run.interval.start,
    data_interval_end: run.interval.end,
    run_after: run.runAfter,
    conf: JSON.stringify(run.conf),
    params: JSON.stringify(params),
    note: run.note,
    queued_at: run.now,
    created_at: run.now,
    updated_at: run.now,
  };
  const inserted =
    run.runType === "scheduled"
      ? await trx
          .insertInto("dag_run")
          .values(values)
          .onConflict((oc) => oc.columns(["dag_id", "logical_date"]).where(sql<boolean>`run_type = 'scheduled'`).doNothing())
          .returning("id")
          .executeTakeFirst()
      : await trx.insertInto("dag_run").values(values).returning("id").executeTakeFirst();
  if (!inserted) return null;
  const dagRunId = Number(inserted.id);
  const tis: NewTaskInstance[] = run.structure.tasks.map((t) => ({
    dag_run_id: dagRunId,
    dag_id: run.dagId,
    task_id: t.taskId,
    state: "none",
    try_number: 0,
    max_tries: t.options.retries + 1,
    priority_weight: t.weight,
    pool: t.options.pool,
    pool_slots: t.options.poolSlots,
    queue: t.options.queue,
    operator: t.kind,
    updated_at: run.now,
  }));
  for (const part of chunk(tis, 5_000)) await exec(ctx, INSERT_TIS, [rows(ctx, TI_COLUMNS, part)]);
  // PostgreSQL plans the dispatch query from table statistics, which a bulk insert makes stale
  // long before autovacuum notices; refreshing them is cheap next to running thousands of tasks.
  if (dialectSql(ctx).analyzeAfterBulkInsert && tis.length >= ANALYZE_AFTER) await sql`analyze task_instance`.execute(ctx.db);
  return dagRunId;
}

export interface TriggerOptions {
  conf?: Record<string, unknown>;
  /** Logical date: a date string (read in the DAG's timezone), epoch ms; default now. */
  logicalDate?: string | number;
  runId?: string;
  note?: string;
  runType?: Extract<RunType, "manual" | "test" | "backfill">;
}

export interface TriggeredRun {
  id: number;
  dagId: string;
  runId: string;
  logicalDate: number;
  paused: boolean;
}

/** Creates a manual (or test) run of the DAG's latest version; the scheduler picks it up. */
export async function triggerDagRun(store: Store, dagId: string, options: TriggerOptions = {}): Promise<TriggeredRun> {
  const dag = await requireDag(store.db, dagId);
  if (dag.is_active !== 1) {
    // Its file may be back, and broken: then that is what to fix.
    const errors = await importErrorsForDag(store.db, dagId);
    throw new UpdraftError(
      "UPDRAFT_E_DAG_INACTIVE",
      errors.length > 0
        ? `DAG '${dagId}' is not active, and its file failed to import: ${describeImportError(errors[0]!)}`
        : `DAG '${dagId}' is not active: its file is gone or no longer defines it`,
      errors.length > 0
        ? { hint: "fix the file: the DAG processor picks it up within seconds; its history is kept", details: { import_errors: importErrorDetails(errors) } }
        : { hint: "restore the DAG file; its history is kept" },
    );
  }
  const conf = options.conf ?? {};
  if (typeof conf !== "object" || conf === null || Array.isArray(conf)) {
    throw new UpdraftError("UPDRAFT_E_USAGE", "conf must be a JSON object", { hint: `--conf '{"key": "value"}'` });
  }
  const { versionId, structure } = await latestStructure(store.db, dag);
  const now = Date.now();
  const logicalDate = options.logicalDate === undefined ? now : parseDate(options.logicalDate, structure.timezone);
  const timetable = restoreTimetable(structure.schedule, structure.timezone);
  const interval = timetable.manualInterval(logicalDate, { startDate: structure.startDate, endDate: structure.endDate, catchup: structure.catchup });
  const runType = options.runType ?? "manual";
  const runId = checkRunId(options.runId ?? defaultRunId(runType, logicalDate));
  const id = await store.transaction(async (trx) => {
    const clash = await trx.selectFrom("dag_run").select("id").where("dag_id", "=", dagId).where("run_id", "=", runId).executeTakeFirst();
    if (clash) {
      throw new UpdraftError("UPDRAFT_E_DAG_RUN_EXISTS", `DAG '${dagId}' already has a run '${runId}'`, {
        hint: "choose another run id or logical date (dag_run_id or logical_date in the API, --run-id or --logical-date in the CLI)",
      });
    }
    const ctx = { db: trx, dialect: store.dialect };
    const id = await insertDagRun(ctx, { dagId, versionId, structure, runType, runId, logicalDate, interval, runAfter: now, conf, note: options.note ?? null, now });
    await appendEvents(ctx, [{ kind: "run-state", dag_id: dagId, run_id: runId, state: "queued" }], now, store.eventChannel);
    return id;
  });
  await store.notify();
  return { id: id!, dagId, runId, logicalDate, paused: dag.is_paused === 1 };
}
