/**
 * Run-level scheduling: scheduled runs created when their data interval ends, queued runs
 * started within maxActiveRuns, retries that have come due made ready again.
 */
import type { Kysely } from "kysely";
import type { SerializedDag } from "../dag/model.js";
import { nextScheduledRun } from "../dag/next-run.js";
import type { Database } from "../store/schema.js";
import type { SqlContext } from "../store/sql.js";
import { defaultRunId, insertDagRun } from "./create-run.js";

const ACTIVE_RUN_STATES = ["queued", "running"];

/** Creates the scheduled runs that are due; returns how many it created. */
export async function createDueRuns(ctx: SqlContext, structureOf: (versionId: number) => Promise<SerializedDag>, now: number): Promise<number> {
  const trx = ctx.db;
  const due = await trx
    .selectFrom("dag")
    .select(["dag_id", "latest_version_id", "max_active_runs", "created_at"])
    .where("is_active", "=", 1)
    .where("is_paused", "=", 0)
    .where("next_dagrun_create_after", "<=", now)
    .where("latest_version_id", "is not", null)
    .execute();
  let created = 0;
  for (const dag of due) {
    const structure = await structureOf(dag.latest_version_id!);
    const counted = await trx
      .selectFrom("dag_run")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("dag_id", "=", dag.dag_id)
      .where("state", "in", ACTIVE_RUN_STATES)
      .where("run_type", "<>", "test")
      .executeTakeFirstOrThrow();
    let active = Number(counted.n);
    const lastRow = await trx
      .selectFrom("dag_run")
      .select(["data_interval_start as start", "data_interval_end as end"])
      .where("dag_id", "=", dag.dag_id)
      .where("run_type", "=", "scheduled")
      .orderBy("data_interval_end", "desc")
      .limit(1)
      .executeTakeFirst();
    let last = lastRow ?? null;
    let next = nextScheduledRun(structure, last, dag.created_at, now);
    while (next && next.runAfter <= now && active < dag.max_active_runs) {
      const id = await insertDagRun(ctx, {
        dagId: dag.dag_id,
        versionId: dag.latest_version_id!,
        structure,
        runType: "scheduled",
        runId: defaultRunId("scheduled", next.interval.start),
        logicalDate: next.interval.start,
        interval: next.interval,
        runAfter: next.runAfter,
        conf: {},
        note: null,
        now,
      });
      if (id !== null) {
        created++;
        active++;
      }
      last = next.interval;
      next = nextScheduledRun(structure, last, dag.created_at, now);
    }
    await trx
      .updateTable("dag")
      .set({
        next_dagrun_create_after: next?.runAfter ?? null,
        next_dagrun_interval_start: next?.interval.start ?? null,
        next_dagrun_interval_end: next?.interval.end ?? null,
      })
      .where("dag_id", "=", dag.dag_id)
      .execute();
  }
  return created;
}

/** queued → running for as many runs as each DAG's maxActiveRuns allows, oldest logical date first. */
export async function startQueuedRuns(trx: Kysely<Database>, onlyRuns: ReadonlySet<number> | null, now: number): Promise<number[]> {
  let query = trx
    .selectFrom("dag_run as r")
    .innerJoin("dag as d", "d.dag_id", "r.dag_id")
    .select(["r.id", "r.dag_id", "d.max_active_runs"])
    .where("r.state", "=", "queued");
  query = onlyRuns ? query.where("r.id", "in", [...onlyRuns]) : query.where("r.run_type", "<>", "test").where("d.is_paused", "=", 0);
  const queued = await query.orderBy("r.logical_date").orderBy("r.id").execute();
  if (queued.length === 0) return [];
  const running = await trx
    .selectFrom("dag_run")
    .select(["dag_id", (eb) => eb.fn.countAll<number>().as("n")])
    .where("state", "=", "running")
    .where("run_type", "<>", "test")
    .where("dag_id", "in", [...new Set(queued.map((q) => q.dag_id))])
    .groupBy("dag_id")
    .execute();
  const counts = new Map(running.map((r) => [r.dag_id, Number(r.n)]));
  const start: number[] = [];
  for (const run of queued) {
    const n = counts.get(run.dag_id) ?? 0;
    if (!onlyRuns && n >= run.max_active_runs) continue;
    counts.set(run.dag_id, n + 1);
    start.push(run.id);
  }
  if (start.length > 0) {
    await trx.updateTable("dag_run").set({ state: "running", start_date: now, end_date: null, updated_at: now }).where("id", "in", start).where("state", "=", "queued").execute();
  }
  return start;
}

/** up_for_retry → scheduled once the retry is due; returns the runs touched and the next due time. */
export async function promoteDueRetries(trx: Kysely<Database>, onlyRuns: ReadonlySet<number> | null, now: number): Promise<{ runs: number[]; nextAt: number | null }> {
  const due = await trx
    .selectFrom("task_instance")
    .select(["id", "dag_run_id"])
    .where("state", "=", "up_for_retry")
    .where("next_retry_at", "<=", now)
    .$if(onlyRuns !== null, (q) => q.where("dag_run_id", "in", [...onlyRuns!]))
    .execute();
  if (due.length > 0) {
    await trx
      .updateTable("task_instance")
      .set({ state: "scheduled", scheduled_at: now, updated_at: now })
      .where("id", "in", due.map((d) => d.id))
      .where("state", "=", "up_for_retry")
      .execute();
  }
  const next = await trx
    .selectFrom("task_instance")
    .select((eb) => eb.fn.min<number>("next_retry_at").as("at"))
    .where("state", "=", "up_for_retry")
    .$if(onlyRuns !== null, (q) => q.where("dag_run_id", "in", [...onlyRuns!]))
    .executeTakeFirst();
  return { runs: [...new Set(due.map((d) => d.dag_run_id))], nextAt: next?.at === null || next?.at === undefined ? null : Number(next.at) };
}

/** When the next scheduled run is due over all DAGs, for the scheduler's timer. */
export async function nextRunCreation(trx: Kysely<Database>): Promise<number | null> {
  const row = await trx
    .selectFrom("dag")
    .select((eb) => eb.fn.min<number>("next_dagrun_create_after").as("at"))
    .where("is_active", "=", 1)
    .where("is_paused", "=", 0)
    .executeTakeFirst();
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}
