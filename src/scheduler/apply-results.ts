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

const CURRENT = statement(
  (d) => `select id, state, try_id, try_number, max_tries, start_date, queued_at, hostname, pid from task_instance
    where id ${d.inList}${d.dialect === "postgres" ? " for update" : ""}`,
);

const FINISH = statement(
  (d) => `update task_instance set state = v.state, start_date = v.start_date, end_date = v.end_date, duration_ms = v.duration_ms,
      next_retry_at = v.next_retry_at, hostname = v.hostname, pid = v.pid, updated_at = v.updated_at
    from ${d.rows([["id", "bigint"], ["state", "text"], ["start_date", "bigint"], ["end_date", "bigint"], ["duration_ms", "bigint"], ["next_retry_at", "bigint"], ["hostname", "text"], ["pid", "integer"], ["updated_at", "bigint"]])}
    where task_instance.id = v.id`,
);

const TRY_COLUMNS: Columns = [
  ["ti_id", "bigint"], ["dag_run_id", "bigint"], ["dag_id", "text"], ["task_id", "text"], ["try_number", "integer"], ["try_id", "text"], ["state", "text"],
  ["queued_at", "bigint"], ["start_date", "bigint"], ["end_date", "bigint"], ["duration_ms", "bigint"], ["hostname", "text"], ["pid", "integer"], ["error", "text"],
];
const INSERT_TRIES = statement((d) => `insert into task_try (${names(TRY_COLUMNS)}) select ${names(TRY_COLUMNS)} from ${d.rows(TRY_COLUMNS)}`);

const XCOM_COLUMNS: Columns = [["dag_run_id", "bigint"], ["task_id", "text"], ["key", "text"], ["value", "text"], ["created_at", "bigint"]];
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

interface CurrentRow {
  id: number;
  state: string;
  try_id: string | null;
  try_number: number;
  max_tries: number;
  start_date: number | null;
  queued_at: number | null;
  hostname: string | null;
  pid: number | null;
}

export async function applyFinished(ctx: SqlContext, tries: Array<[InflightTry, TryResult, StartedReport | undefined]>, now: number): Promise<EndedTask[]> {
  if (tries.length === 0) return [];
  const current = new Map<number, CurrentRow>();
  for (const part of chunk(tries, PART)) {
    for (const r of await query<CurrentRow>(ctx, CURRENT, [list(ctx, part.map(([t]) => t.tiId))])) current.set(Number(r.id), r);
  }
  const updates: Array<Record<string, unknown>> = [];
  const history: Array<Record<string, unknown>> = [];
  const outputs: XcomRow[] = [];
  const ended: EndedTask[] = [];
  for (const [t, result, started] of tries) {
    const row = current.get(t.tiId);
    if (!row || row.try_id !== t.tryId || !TI_STATES_IN_FLIGHT.includes(row.state)) continue;
    let state: TaskInstanceState = result.outcome;
    let nextRetryAt: number | null = null;
    if (result.outcome === "failed" && result.error?.retryable !== false && row.try_number < row.max_tries) {
      state = "up_for_retry";
      nextRetryAt = result.at + retryDelayMs(t.options, row.try_number);
    }
    const start = row.start_date ?? started?.at ?? result.at;
    const hostname = row.hostname ?? started?.hostname ?? null;
    const pid = row.pid ?? started?.pid ?? null;
    const duration = Math.max(0, result.at - start);
    updates.push({ id: t.tiId, state, start_date: start, end_date: result.at, duration_ms: duration, next_retry_at: nextRetryAt, hostname, pid, updated_at: now });
    history.push({
      ti_id: t.tiId,
      dag_run_id: t.dagRunId,
      dag_id: t.dagId,
      task_id: t.taskId,
      try_number: row.try_number,
      try_id: t.tryId,
      state: result.outcome,
      queued_at: row.queued_at,
      start_date: start,
      end_date: result.at,
      duration_ms: duration,
      hostname,
      pid,
      error: result.error ? JSON.stringify(result.error) : null,
    });
    if (result.outcome === "success" && result.output !== undefined) {
      outputs.push({ dag_run_id: t.dagRunId, task_id: t.taskId, key: "return_value", value: result.output, created_at: now });
    }
    const follow = t.kind === "branch" && result.outcome === "success" ? branchFollow(result.output) : undefined;
    ended.push({ tiId: t.tiId, dagRunId: t.dagRunId, taskId: t.taskId, state, ...(follow ? { follow } : {}), ...(nextRetryAt !== null ? { nextRetryAt } : {}) });
  }
  for (const part of chunk(updates, PART)) await exec(ctx, FINISH, [rows(part)]);
  for (const part of chunk(history, PART)) await exec(ctx, INSERT_TRIES, [rows(part)]);
  await upsertXcoms(ctx, outputs);
  return ended;
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

export interface XcomRow {
  dag_run_id: number;
  task_id: string;
  key: string;
  value: string;
  created_at: number;
}

export async function upsertXcoms(ctx: SqlContext, xcoms: XcomRow[]): Promise<void> {
  if (xcoms.length === 0) return;
  // One row per key: a statement may not update the same row twice; the last value wins.
  const unique = [...new Map(xcoms.map((r) => [`${r.dag_run_id}\0${r.task_id}\0${r.key}`, r])).values()];
  for (const part of chunk(unique, PART)) await exec(ctx, UPSERT_XCOMS, [rows(part)]);
}

export async function insertLogs(ctx: SqlContext, batches: Array<[InflightTry, LogLine[]]>): Promise<void> {
  if (batches.length === 0) return;
  const all = batches.flatMap(([t, lines]) => lines.map((l) => ({ ti_id: t.tiId, try_number: t.tryNumber, ts: l.ts, stream: l.stream, level: l.level, message: l.message })));
  for (const part of chunk(all, PART)) await exec(ctx, INSERT_LOGS, [rows(part)]);
}
