/**
 * Filtered, paged lists of DAG runs, task instances and XComs (the API's list endpoints), and the
 * state changes of whole runs: set a run's state (Airflow's set_dag_run_state) and delete a run.
 * Lists take the DAG ids the caller may read and filter by them in SQL, before paging.
 */
import { sql, type Expression, type Kysely, type SqlBool } from "kysely";
import { FINISHED_STATES, type TaskInstanceState } from "../dag/model.js";
import { UpdraftError } from "../errors/index.js";
import type { Store } from "./connect.js";
import { appendEvents } from "./events.js";
import type { Database, DagRunRow, TaskInstanceRow } from "./schema.js";

export interface Range {
  gte?: number;
  lte?: number;
}

export interface Paging {
  limit: number;
  offset: number;
}

/** Column to order by; a leading "-" orders descending. Nulls come last either way, on both dialects. */
export type RunOrder = "id" | "logical_date" | "start_date" | "end_date" | "run_after" | "updated_at";
export type TiOrder = "id" | "task_id" | "start_date" | "end_date" | "duration_ms" | "priority_weight" | "updated_at";

export interface RunFilter {
  /** DAG ids the caller may read; null for all. */
  readable: string[] | null;
  dagIds?: string[];
  states?: string[];
  runTypes?: string[];
  logicalDate?: Range;
  startDate?: Range;
  endDate?: Range;
  order?: { column: RunOrder; desc: boolean };
}

export type DagRunListRow = DagRunRow & { version_number: number | null };

/** Conditions as SQL expressions, so one list serves queries of any shape. */
function inList(column: string, ids: ReadonlyArray<string | number> | null | undefined): Expression<SqlBool>[] {
  if (ids === null || ids === undefined) return [];
  if (ids.length === 0) return [sql<boolean>`1 = 0`];
  return [sql<boolean>`${sql.ref(column)} in (${sql.join(ids)})`];
}

function inRange(column: string, r: Range | undefined): Expression<SqlBool>[] {
  const out: Expression<SqlBool>[] = [];
  if (r?.gte !== undefined) out.push(sql<boolean>`${sql.ref(column)} >= ${r.gte}`);
  if (r?.lte !== undefined) out.push(sql<boolean>`${sql.ref(column)} <= ${r.lte}`);
  return out;
}

function orderTerms(column: string, desc: boolean): Expression<unknown>[] {
  const ref = sql.ref(column);
  const direction = desc ? sql`desc` : sql`asc`;
  return [sql`case when ${ref} is null then 1 else 0 end`, sql`${ref} ${direction}`];
}

function runConditions(f: RunFilter): Expression<SqlBool>[] {
  return [
    ...inList("r.dag_id", f.readable),
    ...inList("r.dag_id", f.dagIds),
    ...(f.states?.length ? inList("r.state", f.states) : []),
    ...(f.runTypes?.length ? inList("r.run_type", f.runTypes) : []),
    ...inRange("r.logical_date", f.logicalDate),
    ...inRange("r.start_date", f.startDate),
    ...inRange("r.end_date", f.endDate),
  ];
}

export async function queryDagRuns(db: Kysely<Database>, f: RunFilter, page: Paging): Promise<{ rows: DagRunListRow[]; total: number }> {
  const conditions = runConditions(f);
  const order = f.order ?? { column: "logical_date", desc: true };
  let rows = db.selectFrom("dag_run as r").leftJoin("dag_version as v", "v.id", "r.dag_version_id").selectAll("r").select("v.version_number");
  let count = db.selectFrom("dag_run as r").select((eb) => eb.fn.countAll<number>().as("n"));
  for (const c of conditions) {
    rows = rows.where(c);
    count = count.where(c);
  }
  for (const term of orderTerms(`r.${order.column}`, order.desc)) rows = rows.orderBy(term);
  rows = rows.orderBy(sql`r.id ${order.desc ? sql`desc` : sql`asc`}`);
  const result = await rows.limit(page.limit).offset(page.offset).execute();
  const total = await count.executeTakeFirstOrThrow();
  return { rows: result, total: Number(total.n) };
}

export interface TiFilter {
  readable: string[] | null;
  dagIds?: string[];
  /** Run ids (dag_run.run_id), with dagIds or across DAGs. */
  runIds?: string[];
  /** Internal run ids (dag_run.id). */
  dagRunIds?: number[];
  taskIds?: string[];
  states?: string[];
  pools?: string[];
  logicalDate?: Range;
  startDate?: Range;
  endDate?: Range;
  order?: { column: TiOrder; desc: boolean };
}

export type TiListRow = TaskInstanceRow & { run_id: string; logical_date: number };

function tiConditions(f: TiFilter): Expression<SqlBool>[] {
  return [
    ...inList("t.dag_id", f.readable),
    ...inList("t.dag_id", f.dagIds),
    ...inList("r.run_id", f.runIds),
    ...inList("t.dag_run_id", f.dagRunIds),
    ...inList("t.task_id", f.taskIds),
    ...(f.states?.length ? inList("t.state", f.states) : []),
    ...(f.pools?.length ? inList("t.pool", f.pools) : []),
    ...inRange("r.logical_date", f.logicalDate),
    ...inRange("t.start_date", f.startDate),
    ...inRange("t.end_date", f.endDate),
  ];
}

export async function queryTaskInstances(db: Kysely<Database>, f: TiFilter, page: Paging): Promise<{ rows: TiListRow[]; total: number }> {
  const conditions = tiConditions(f);
  const order = f.order ?? { column: "id", desc: false };
  let rows = db.selectFrom("task_instance as t").innerJoin("dag_run as r", "r.id", "t.dag_run_id").selectAll("t").select(["r.run_id", "r.logical_date"]);
  let count = db.selectFrom("task_instance as t").innerJoin("dag_run as r", "r.id", "t.dag_run_id").select((eb) => eb.fn.countAll<number>().as("n"));
  for (const c of conditions) {
    rows = rows.where(c);
    count = count.where(c);
  }
  for (const term of orderTerms(`t.${order.column}`, order.desc)) rows = rows.orderBy(term);
  rows = rows.orderBy(sql`t.id ${order.desc ? sql`desc` : sql`asc`}`);
  const result = await rows.limit(page.limit).offset(page.offset).execute();
  const total = await count.executeTakeFirstOrThrow();
  return { rows: result, total: Number(total.n) };
}

export type XcomOrder = "key" | "timestamp" | "dag_id" | "task_id" | "logical_date";

export interface XcomFilter {
  readable: string[] | null;
  dagIds?: string[];
  /** Run ids (dag_run.run_id), with dagIds or across DAGs. */
  runIds?: string[];
  /** Internal run ids (dag_run.id). */
  dagRunIds?: number[];
  taskIds?: string[];
  keys?: string[];
  logicalDate?: Range;
  order?: { column: XcomOrder; desc: boolean };
}

export interface XcomListRow {
  dag_id: string;
  run_id: string;
  task_id: string;
  key: string;
  value: string;
  created_at: number;
}

const XCOM_COLUMNS: Record<XcomOrder, string> = { key: "x.key", timestamp: "x.created_at", dag_id: "r.dag_id", task_id: "x.task_id", logical_date: "r.logical_date" };

/** XCom entries of task instances, of runs, across DAGs (with their run's DAG and run id). */
export async function queryXcoms(db: Kysely<Database>, f: XcomFilter, page: Paging): Promise<{ rows: XcomListRow[]; total: number }> {
  const conditions = [
    ...inList("r.dag_id", f.readable),
    ...inList("r.dag_id", f.dagIds),
    ...inList("r.run_id", f.runIds),
    ...inList("x.dag_run_id", f.dagRunIds),
    ...inList("x.task_id", f.taskIds),
    ...inList("x.key", f.keys),
    ...inRange("r.logical_date", f.logicalDate),
  ];
  const order = f.order ?? { column: "key", desc: false };
  let rows = db.selectFrom("xcom as x").innerJoin("dag_run as r", "r.id", "x.dag_run_id").select(["r.dag_id", "r.run_id", "x.task_id", "x.key", "x.value", "x.created_at"]);
  let count = db.selectFrom("xcom as x").innerJoin("dag_run as r", "r.id", "x.dag_run_id").select((eb) => eb.fn.countAll<number>().as("n"));
  for (const c of conditions) {
    rows = rows.where(c);
    count = count.where(c);
  }
  const direction = order.desc ? sql`desc` : sql`asc`;
  // The primary key (run, task, key) after the chosen column keeps pages stable.
  rows = rows.orderBy(sql`${sql.ref(XCOM_COLUMNS[order.column])} ${direction}`).orderBy(sql`x.dag_run_id ${direction}`).orderBy("x.task_id").orderBy("x.key");
  const result = await rows.limit(page.limit).offset(page.offset).execute();
  const total = await count.executeTakeFirstOrThrow();
  return { rows: result, total: Number(total.n) };
}

export interface StateChange {
  taskId: string;
  previous: string;
  state: string;
}

/**
 * Sets a run's state as Airflow's set_dag_run_state_to_success/_failed does:
 * - success: every task instance that is not success or skipped is marked success;
 * - failed: running task instances are marked failed, the other unfinished ones skipped.
 * The run ends now. Tries still running are stopped by the scheduler that owns them (their task
 * instance is no longer queued or running). Returns what changed (or, with dryRun, would change).
 */
export async function setDagRunState(store: Store, run: DagRunRow, state: "success" | "failed", options: { dryRun?: boolean } = {}): Promise<StateChange[]> {
  const now = Date.now();
  const changes = await store.transaction(async (trx) => {
    const tis = await trx.selectFrom("task_instance").select(["id", "task_id", "state"]).where("dag_run_id", "=", run.id).orderBy("id").execute();
    const changed: Array<StateChange & { id: number }> = [];
    for (const ti of tis) {
      let next: string | null = null;
      if (state === "success") next = ti.state === "success" || ti.state === "skipped" ? null : "success";
      else if (ti.state === "running") next = "failed";
      else if (!FINISHED_STATES.has(ti.state as TaskInstanceState)) next = "skipped";
      if (next !== null) changed.push({ id: ti.id, taskId: ti.task_id, previous: ti.state, state: next });
    }
    if (options.dryRun) return changed;
    for (const target of ["success", "failed", "skipped"]) {
      const ids = changed.filter((c) => c.state === target).map((c) => c.id);
      for (let i = 0; i < ids.length; i += 5_000) {
        await trx
          .updateTable("task_instance")
          .set({ state: target, end_date: now, next_retry_at: null, updated_at: now })
          .where("id", "in", ids.slice(i, i + 5_000))
          .execute();
      }
    }
    await trx.updateTable("dag_run").set({ state, end_date: now, updated_at: now }).where("id", "=", run.id).execute();
    await appendEvents(
      { db: trx, dialect: store.dialect },
      [
        ...changed.map((c) => ({ kind: "ti-state" as const, dag_id: run.dag_id, run_id: run.run_id, task_id: c.taskId, state: c.state })),
        { kind: "run-state" as const, dag_id: run.dag_id, run_id: run.run_id, state },
      ],
      now,
      store.eventChannel,
    );
    return changed;
  });
  if (!options.dryRun) await store.notify();
  return changes.map(({ taskId, previous, state: s }) => ({ taskId, previous, state: s }));
}

/**
 * Deletes a run with its task instances, tries, XComs and logs. A run with a try on its way
 * (a task instance queued or running) is refused: mark the run failed first, so the scheduler
 * stops the tries and no report arrives about a task instance that is gone.
 */
export async function deleteDagRun(store: Store, run: DagRunRow): Promise<void> {
  await store.transaction(async (trx) => {
    const busy = await trx
      .selectFrom("task_instance")
      .select("task_id")
      .where("dag_run_id", "=", run.id)
      .where("state", "in", ["queued", "running"])
      .orderBy("id")
      .limit(10)
      .execute();
    if (busy.length > 0) {
      throw new UpdraftError("UPDRAFT_E_INVALID_STATE", `run '${run.run_id}' of DAG '${run.dag_id}' has tasks on their way (${busy.map((b) => b.task_id).join(", ")})`, {
        hint: "mark the run failed first (PATCH its state), then delete it",
      });
    }
    await trx.deleteFrom("dag_run").where("id", "=", run.id).execute();
  });
  await store.notify();
}
