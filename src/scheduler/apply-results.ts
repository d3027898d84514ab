/**
 * Batched writes of what executors reported in one tick: tries that started, tries that ended
 * (with their task_try history rows and outputs), pushed XComs and log lines. Every report names
 * its try id; a report about a try that is no longer the task instance's current one (it timed
 * out, was cleared or marked meanwhile) changes nothing.
 */
import type { TaskInstanceState } from "../dag/model.js";
import type { LogLine, TryResult } from "../runner/protocol.js";
import type { CompiledTaskOptions } from "../sdk/definition.js";
import { chunk } from "../store/batch.js";
import { exec, list, query, rows, statement, type Columns, type SqlContext } from "../store/sql.js";
import { retryDelayMs } from "./retries.js";

/** A try this scheduler handed to its executor. */
export interface InflightTry {
  tryId: string;
  tiId: number;
  dagRunId: number;
  dagId: string;
  taskId: string;
  tryNumber: number;
  maxTries: number;
  queuedAt: number;
  kind: string;
  options: CompiledTaskOptions;
}

export interface StartedReport {
  hostname: string;
  pid: number;
  at: number;
}

export interface EndedTask {
  tiId: number;
  dagRunId: number;
  taskId: string;
  state: TaskInstanceState;
  /** For a branch that succeeded: the direct downstream tasks it follows. */
  follow?: string[];
  nextRetryAt?: number;
}

const TI_STATES_IN_FLIGHT = ["queued", "running"];

const STARTED = statement(
  (d) => `update task_instance set state = 'running', start_date = v.start_date, hostname = v.hostname, pid = v.pid, updated_at = v.updated_at
    from ${d.rows([["id", "bigint"], ["try_id", "text"], ["start_date", "bigint"], ["hostname", "text"], ["pid", "integer"], ["updated_at", "bigint"]])}
    where task_instance.id = v.id and task_instance.try_id = v.try_id and task_instance.state = 'queued'`,
);

const CURRENT = statement((d) => `select id, state, try_id, start_date, hostname, pid from task_instance where id ${d.inList}`);

const FINISH_COLUMNS: Columns = [
  ["id", "bigint"], ["try_id", "text"], ["state", "text"], ["start_date", "bigint"], ["end_date", "bigint"], ["next_retry_at", "bigint"],
  ["hostname", "text"], ["pid", "integer"], ["updated_at", "bigint"],
];
const FINISH_SET = `state = v.state, start_date = coalesce(task_instance.start_date, v.start_date), end_date = v.end_date,
  duration_ms = max(0, v.end_date - coalesce(task_instance.start_date, v.start_date)), next_retry_at = v.next_retry_at,
  hostname = coalesce(task_instance.hostname, v.hostname), pid = coalesce(task_instance.pid, v.pid), updated_at = v.updated_at`;
const FINISH = statement((d) => `update task_instance set ${FINISH_SET} from ${d.rows(FINISH_COLUMNS)} where task_instance.id = v.id`);

const TRY_COLUMNS: Columns = [
  ["ti_id", "bigint"], ["dag_run_id", "bigint"], ["dag_id", "text"], ["task_id", "text"], ["try_number", "integer"], ["try_id", "text"], ["state", "text"],
  ["queued_at", "bigint"], ["start_date", "bigint"], ["end_date", "bigint"], ["duration_ms", "bigint"], ["hostname", "text"], ["pid", "integer"], ["error", "text"],
];
const INSERT_TRIES = statement((d) => `insert into task_try (${names(TRY_COLUMNS)}) select ${names(TRY_COLUMNS)} from ${d.rows(TRY_COLUMNS)}`);

const XCOM_COLUMNS: Columns = [["dag_run_id", "bigint"], ["task_id", "text"], ["key", "text"], ["value", "text"], ["created_at", "bigint"]];

/**
 * PostgreSQL: the whole of a tick's ended tries in one round trip. The update is the fence (only
 * rows whose current try is the reported one, still queued or running); history rows and
 * outputs are written for the rows it changed, and their ids come back.
 */
const FINISH_ALL_PG = statement(
  (d) => `with fin as (
      update task_instance set ${FINISH_SET.replace("max(0,", "greatest(0,")} from ${d.rows(FINISH_COLUMNS)}
      where task_instance.id = v.id and task_instance.try_id = v.try_id and task_instance.state in ('queued', 'running')
      returning task_instance.id, task_instance.start_date, task_instance.duration_ms, task_instance.hostname, task_instance.pid),
    tries as (
      insert into task_try (${names(TRY_COLUMNS)})
      select w.ti_id, w.dag_run_id, w.dag_id, w.task_id, w.try_number, w.try_id, w.state, w.queued_at, fin.start_date, w.end_date, fin.duration_ms, fin.hostname, fin.pid, w.error
      from ${d.rows(TRY_COLUMNS).replace(" as v(", " as w(")} join fin on fin.id = w.ti_id),
    outputs as (
      insert into xcom (${names(XCOM_COLUMNS)})
      select x.dag_run_id, x.task_id, x.key, x.value, x.created_at from ${d.rows([["ti_id", "bigint"], ...XCOM_COLUMNS]).replace(" as v(", " as x(")} join fin on fin.id = x.ti_id
      on conflict (dag_run_id, task_id, key) do update set value = excluded.value, created_at = excluded.created_at)
    select id from fin`,
);
// "where true" keeps SQLite from reading ON CONFLICT as a join constraint.
const UPSERT_XCOMS = statement(
  (d) => `insert into xcom (${names(XCOM_COLUMNS)}) select ${names(XCOM_COLUMNS)} from ${d.rows(XCOM_COLUMNS)} where true
    on conflict (dag_run_id, task_id, key) do update set value = excluded.value, created_at = excluded.created_at`,
);

const LOG_COLUMNS: Columns = [["ti_id", "bigint"], ["try_number", "integer"], ["ts", "bigint"], ["stream", "text"], ["level", "text"], ["message", "text"]];
const INSERT_LOGS = statement((d) => `insert into task_log (${names(LOG_COLUMNS)}) select ${names(LOG_COLUMNS)} from ${d.rows(LOG_COLUMNS)}`);

function names(columns: Columns): string {
  return columns.map(([n]) => n).join(", ");
}

/** Large row sets go in parts, to keep each parameter (and statement) of a sensible size. */
const PART = 2_000;

export async function applyStarted(ctx: SqlContext, tries: Array<[InflightTry, StartedReport]>, now: number): Promise<void> {
  for (const part of chunk(tries, PART)) {
    await exec(ctx, STARTED, [rows(part.map(([t, s]) => ({ id: t.tiId, try_id: t.tryId, start_date: s.at, hostname: s.hostname, pid: s.pid, updated_at: now })))]);
  }
}

export async function applyFinished(ctx: SqlContext, tries: Array<[InflightTry, TryResult, StartedReport | undefined]>, now: number): Promise<EndedTask[]> {
  if (tries.length === 0) return [];
  // What each try's end means, decided from what this scheduler knows of its own current tries;
  // the store then applies it only where the try is still the current one.
  const updates: Array<Record<string, unknown>> = [];
  const history: Array<Record<string, unknown>> = [];
  const outputs: Array<XcomRow & { ti_id: number }> = [];
  const ended = new Map<number, EndedTask>();
  for (const [t, result, started] of tries) {
    let state: TaskInstanceState = result.outcome;
    let nextRetryAt: number | null = null;
    if (result.outcome === "failed" && result.error?.retryable !== false && t.tryNumber < t.maxTries) {
      state = "up_for_retry";
      nextRetryAt = result.at + retryDelayMs(t.options, t.tryNumber);
    }
    const start = started?.at ?? result.at;
    updates.push({ id: t.tiId, try_id: t.tryId, state, start_date: start, end_date: result.at, next_retry_at: nextRetryAt, hostname: started?.hostname ?? null, pid: started?.pid ?? null, updated_at: now });
    history.push({
      ti_id: t.tiId,
      dag_run_id: t.dagRunId,
      dag_id: t.dagId,
      task_id: t.taskId,
      try_number: t.tryNumber,
      try_id: t.tryId,
      state: result.outcome,
      queued_at: t.queuedAt,
      start_date: start,
      end_date: result.at,
      duration_ms: Math.max(0, result.at - start),
      hostname: started?.hostname ?? null,
      pid: started?.pid ?? null,
      error: result.error ? JSON.stringify(result.error) : null,
    });
    if (result.outcome === "success" && result.output !== undefined) {
      outputs.push({ ti_id: t.tiId, dag_run_id: t.dagRunId, task_id: t.taskId, key: "return_value", value: result.output, created_at: now });
    }
    const follow = t.kind === "branch" && result.outcome === "success" ? branchFollow(result.output) : undefined;
    ended.set(t.tiId, { tiId: t.tiId, dagRunId: t.dagRunId, taskId: t.taskId, state, ...(follow ? { follow } : {}), ...(nextRetryAt !== null ? { nextRetryAt } : {}) });
  }
  const applied = ctx.dialect === "postgres" ? await finishPostgres(ctx, updates, history, outputs) : await finishSqlite(ctx, updates, history, outputs);
  return [...ended.values()].filter((e) => applied.has(e.tiId));
}

async function finishPostgres(ctx: SqlContext, updates: Array<Record<string, unknown>>, history: Array<Record<string, unknown>>, outputs: Array<XcomRow & { ti_id: number }>): Promise<Set<number>> {
  const applied = new Set<number>();
  const unique = lastPerKey(outputs);
  // Parts of one tick: the ranges line up because every list is in the same try order.
  for (const part of chunk(updates.map((_, i) => i), PART)) {
    const ids = new Set(part.map((i) => updates[i]!.id));
    const rowsApplied = await query<{ id: number }>(ctx, FINISH_ALL_PG, [
      rows(part.map((i) => updates[i]!)),
      rows(part.map((i) => history[i]!)),
      rows(unique.filter((x) => ids.has(x.ti_id))),
    ]);
    for (const r of rowsApplied) applied.add(Number(r.id));
  }
  return applied;
}

/** SQLite: one writer, so read the current tries, then write for those that are still current. */
async function finishSqlite(ctx: SqlContext, updates: Array<Record<string, unknown>>, history: Array<Record<string, unknown>>, outputs: Array<XcomRow & { ti_id: number }>): Promise<Set<number>> {
  const current = new Map<number, { state: string; try_id: string | null; start_date: number | null; hostname: string | null; pid: number | null }>();
  for (const part of chunk(updates.map((u) => u.id as number), PART)) {
    for (const r of await query<{ id: number; state: string; try_id: string | null; start_date: number | null; hostname: string | null; pid: number | null }>(ctx, CURRENT, [list(ctx, part)])) current.set(Number(r.id), r);
  }
  const applied = new Set<number>();
  updates.forEach((u, i) => {
    const row = current.get(u.id as number);
    if (!row || row.try_id !== u.try_id || !TI_STATES_IN_FLIGHT.includes(row.state)) return;
    applied.add(u.id as number);
    // The history row shows what the task instance row will: its first start, host and pid.
    const h = history[i]!;
    if (row.start_date !== null) h.start_date = row.start_date;
    h.duration_ms = Math.max(0, (h.end_date as number) - (h.start_date as number));
    h.hostname = row.hostname ?? h.hostname;
    h.pid = row.pid ?? h.pid;
  });
  const keep = <T>(list: T[], id: (x: T) => number) => list.filter((x) => applied.has(id(x)));
  for (const part of chunk(keep(updates, (u) => u.id as number), PART)) await exec(ctx, FINISH, [rows(part)]);
  for (const part of chunk(keep(history, (h) => h.ti_id as number), PART)) await exec(ctx, INSERT_TRIES, [rows(part)]);
  await upsertXcoms(ctx, keep(outputs, (x) => x.ti_id));
  return applied;
}

/** The task ids a branch chose (the runner checked them); anything else follows nothing. */
function branchFollow(output: string | undefined): string[] {
  try {
    const value: unknown = JSON.parse(output ?? "[]");
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  } catch {
    return [];
  }
}

/** One row per key: a statement may not update the same row twice; the last value wins. */
function lastPerKey<T extends XcomRow>(xcoms: T[]): T[] {
  return [...new Map(xcoms.map((r) => [`${r.dag_run_id}\0${r.task_id}\0${r.key}`, r])).values()];
}

export interface XcomRow {
  dag_run_id: number;
  task_id: string;
  key: string;
  value: string;
  created_at: number;
}

export async function upsertXcoms(ctx: SqlContext, xcoms: XcomRow[]): Promise<void> {
  if (xcoms.length === 0) return;
  for (const part of chunk(lastPerKey(xcoms), PART)) {
    await exec(ctx, UPSERT_XCOMS, [rows(part.map((x) => ({ dag_run_id: x.dag_run_id, task_id: x.task_id, key: x.key, value: x.value, created_at: x.created_at })))]);
  }
}

export async function insertLogs(ctx: SqlContext, batches: Array<[InflightTry, LogLine[]]>): Promise<void> {
  if (batches.length === 0) return;
  const all = batches.flatMap(([t, lines]) => lines.map((l) => ({ ti_id: t.tiId, try_number: t.tryNumber, ts: l.ts, stream: l.stream, level: l.level, message: l.message })));
  for (const part of chunk(all, PART)) await exec(ctx, INSERT_LOGS, [rows(part)]);
}
