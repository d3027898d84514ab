/**
 * The life of a try, in one place: queued, started, heartbeat, finished (and, in orphans.ts,
 * handed back or declared a zombie). Any process may call these — the scheduler today, the
 * execution API for remote workers next — because every statement is a compare-and-set keyed by
 * the try id: it changes a task instance only while that try is its current one and still in
 * flight, so a late, duplicate or foreign report changes nothing and is refused with a code.
 *
 * Each function takes a batch (a tick's worth) and costs a few statements however large it is.
 * What a try's end means (retry or not) is decided here from the task's options in the DAG
 * version of its run, read through the run cache, never from a caller's memory.
 */
import type { TaskInstanceState } from "../dag/model.js";
import type { LogLine, TryResult } from "../runner/protocol.js";
import type { RunCache } from "../scheduler/run-cache.js";
import { chunk } from "../store/batch.js";
import { dialectSql, exec, list, query, rows, statement, type Columns, type DialectSql, type SqlContext } from "../store/sql.js";
import { decideEnd } from "./retry-rule.js";
import { makeTryId, newTryBatch, parseTryId } from "./try-id.js";

/** Large row sets go in parts, to keep each parameter (and statement) of a sensible size. */
const PART = 2_000;

const IN_FLIGHT = "('queued', 'running')";

export type RefusalCode = "UPDRAFT_E_TRY_UNKNOWN" | "UPDRAFT_E_TRY_STALE" | "UPDRAFT_E_TRY_DUPLICATE";

/** A report the store did not apply, and why. */
export interface Refusal {
  tryId: string;
  code: RefusalCode;
  message: string;
}

export interface StartReport {
  tryId: string;
  hostname: string;
  pid: number;
  at: number;
}

export interface FinishReport {
  tryId: string;
  result: TryResult;
  /** When the start was not recorded on its own (a short try's start and end share a batch). */
  started?: Omit<StartReport, "tryId">;
}

/** A task instance whose try ended, as the scheduler goes on from it. */
export interface EndedTry {
  tryId: string;
  tiId: number;
  dagRunId: number;
  taskId: string;
  state: TaskInstanceState;
  /** For a branch that succeeded: the direct downstream tasks it follows. */
  follow?: string[];
  nextRetryAt?: number;
}

/** A task instance whose try started. */
export interface StartedTry {
  tryId: string;
  tiId: number;
  dagRunId: number;
  taskId: string;
}

// ---- queue ----------------------------------------------------------------------------------

const QUEUE = statement((d) =>
  d.updateIdIn(
    "task_instance",
    `state = 'queued', try_number = try_number + 1,
      try_id = cast(? as text) || '.' || cast(id as text) || '.' || cast(try_number + 1 as text),
      queued_at = ?, job_id = ?, start_date = null, end_date = null, duration_ms = null, next_retry_at = null,
      hostname = null, pid = null, heartbeat_at = null, claim_hash = null, updated_at = ?`,
    "state = 'scheduled'",
  ),
);

/**
 * Queues a new try of each of these scheduled task instances for job `jobId`; returns the try id
 * of each, by task instance id. The caller read them as scheduled in this transaction (and on
 * PostgreSQL locked them), so each gets its try; the `state = 'scheduled'` guard keeps it so.
 */
export async function queueTries(ctx: SqlContext, tis: ReadonlyArray<{ id: number; tryNumber: number }>, jobId: number, now: number): Promise<Map<number, string>> {
  const batch = newTryBatch();
  for (const part of chunk(tis.map((t) => t.id), 5_000)) await exec(ctx, QUEUE, [batch, now, jobId, now, list(ctx, part)]);
  return new Map(tis.map((t) => [t.id, makeTryId(batch, t.id, t.tryNumber + 1)]));
}

// ---- start ----------------------------------------------------------------------------------

const STARTED_COLUMNS: Columns = [["id", "bigint"], ["try_id", "text"], ["start_date", "bigint"], ["hostname", "text"], ["pid", "integer"], ["updated_at", "bigint"]];
const STARTED = statement(
  (d) => `update task_instance set state = 'running', start_date = v.start_date, hostname = v.hostname, pid = v.pid, updated_at = v.updated_at
    from ${d.rows(STARTED_COLUMNS)}
    where task_instance.id = v.id and task_instance.try_id = v.try_id and task_instance.state = 'queued'
    returning task_instance.id, task_instance.try_id, task_instance.dag_run_id, task_instance.task_id`,
);

/** Marks queued tries running; returns those it changed (a report about another try changes nothing). */
export async function startTries(ctx: SqlContext, reports: readonly StartReport[], now: number): Promise<StartedTry[]> {
  const started: StartedTry[] = [];
  const valid = reports.flatMap((r) => {
    const parsed = parseTryId(r.tryId);
    return parsed ? [{ id: parsed.tiId, try_id: r.tryId, start_date: r.at, hostname: r.hostname, pid: r.pid, updated_at: now }] : [];
  });
  for (const part of chunk(valid, PART)) {
    for (const row of await query<{ id: number; try_id: string; dag_run_id: number; task_id: string }>(ctx, STARTED, [rows(ctx, STARTED_COLUMNS, part)])) {
      started.push({ tryId: row.try_id, tiId: Number(row.id), dagRunId: Number(row.dag_run_id), taskId: row.task_id });
    }
  }
  return started;
}

// ---- heartbeat ------------------------------------------------------------------------------

const CURRENT_TRIES = statement((d) => `select id, try_id, state from task_instance where id ${d.inList}`);

/**
 * The heartbeat of tries that run: which of them must stop because their task instance moved on
 * (marked, cleared or handed back elsewhere), with the state it is in now. A local try's liveness
 * is its scheduler's job heartbeat; remote workers' tries will record their own beat here.
 */
export async function heartbeatTries(ctx: SqlContext, tryIds: readonly string[]): Promise<Array<{ tryId: string; state: string | null }>> {
  const byTi = new Map<number, string>();
  for (const tryId of tryIds) {
    const parsed = parseTryId(tryId);
    if (parsed) byTi.set(parsed.tiId, tryId);
  }
  const stop: Array<{ tryId: string; state: string | null }> = tryIds.filter((id) => parseTryId(id) === null).map((tryId) => ({ tryId, state: null }));
  const seen = new Set<number>();
  for (const part of chunk([...byTi.keys()], PART)) {
    for (const row of await query<{ id: number; try_id: string | null; state: string }>(ctx, CURRENT_TRIES, [list(ctx, part)])) {
      const id = Number(row.id);
      seen.add(id);
      const tryId = byTi.get(id)!;
      if (row.try_id !== tryId || (row.state !== "queued" && row.state !== "running")) stop.push({ tryId, state: row.state });
    }
  }
  for (const [id, tryId] of byTi) if (!seen.has(id)) stop.push({ tryId, state: null });
  return stop;
}

const BEAT_COLUMNS: Columns = [["id", "bigint"], ["try_id", "text"]];
const BEAT = statement(
  (d) => `update task_instance set heartbeat_at = ? from ${d.rows(BEAT_COLUMNS)}
    where task_instance.id = v.id and task_instance.try_id = v.try_id and task_instance.state in ${IN_FLIGHT} returning task_instance.try_id`,
);

const CLAIM_COLUMNS: Columns = [["id", "bigint"], ["try_id", "text"], ["claim_hash", "text"]];
const CLAIM = statement(
  (d) => `update task_instance set heartbeat_at = ?, claim_hash = v.claim_hash from ${d.rows(CLAIM_COLUMNS)}
    where task_instance.id = v.id and task_instance.try_id = v.try_id and task_instance.state = 'running'`,
);

/**
 * Remote tries just started: each records its first beat and the hash of the claim its worker
 * started it with (a repeated start is answered only for the same claim).
 */
export async function claimTries(ctx: SqlContext, claims: ReadonlyArray<{ tryId: string; claimHash: string }>, now: number): Promise<void> {
  const valid = claims.flatMap((c) => {
    const parsed = parseTryId(c.tryId);
    return parsed ? [{ id: parsed.tiId, try_id: c.tryId, claim_hash: c.claimHash }] : [];
  });
  for (const part of chunk(valid, PART)) await exec(ctx, CLAIM, [now, rows(ctx, CLAIM_COLUMNS, part)]);
}

/**
 * The heartbeat of tries that run on remote workers: records it for the tries still current and
 * in flight, and names the others, which must stop, with the state their task instance is in now
 * (null when it is gone).
 */
export async function beatTries(ctx: SqlContext, tryIds: readonly string[], now: number): Promise<Array<{ tryId: string; state: string | null }>> {
  const valid = [...new Set(tryIds)].flatMap((tryId) => {
    const parsed = parseTryId(tryId);
    return parsed ? [{ id: parsed.tiId, try_id: tryId }] : [];
  });
  const beating = new Set<string>();
  for (const part of chunk(valid, PART)) {
    for (const row of await query<{ try_id: string }>(ctx, BEAT, [now, rows(ctx, BEAT_COLUMNS, part)])) beating.add(row.try_id);
  }
  const others = tryIds.filter((id) => !beating.has(id));
  return others.length === 0 ? [] : heartbeatTries(ctx, others);
}

const OF_TRIES = statement((d) => `select id, try_id, state, dag_run_id, task_id, next_retry_at from task_instance where id ${d.inList}`);

/** A try that is no longer in flight, as its caller goes on from it. */
export interface GoneTry {
  tryId: string;
  /** The state its task instance ended in by this try; null when it moved on under another try or is gone. */
  state: TaskInstanceState | null;
  dagRunId: number;
  taskId: string;
  nextRetryAt: number | null;
}

/**
 * Which of these tries are no longer in flight: ended through the execution API (remote workers
 * report there), marked, cleared or handed back elsewhere. The caller goes on from the state each
 * ended in, read in its own transaction.
 */
export async function triesGone(ctx: SqlContext, tryIds: readonly string[]): Promise<GoneTry[]> {
  const byTi = new Map<number, string>();
  for (const tryId of tryIds) {
    const parsed = parseTryId(tryId);
    if (parsed) byTi.set(parsed.tiId, tryId);
  }
  const gone: GoneTry[] = [];
  const seen = new Set<number>();
  for (const part of chunk([...byTi.keys()], PART)) {
    for (const row of await query<{ id: number; try_id: string | null; state: TaskInstanceState; dag_run_id: number; task_id: string; next_retry_at: number | null }>(ctx, OF_TRIES, [list(ctx, part)])) {
      const id = Number(row.id);
      seen.add(id);
      const tryId = byTi.get(id)!;
      if (row.try_id === tryId && (row.state === "queued" || row.state === "running")) continue;
      gone.push({ tryId, state: row.try_id === tryId ? row.state : null, dagRunId: Number(row.dag_run_id), taskId: row.task_id, nextRetryAt: row.next_retry_at === null ? null : Number(row.next_retry_at) });
    }
  }
  for (const [id, tryId] of byTi) if (!seen.has(id)) gone.push({ tryId, state: null, dagRunId: 0, taskId: "", nextRetryAt: null });
  return gone;
}

// ---- finish ---------------------------------------------------------------------------------

const CURRENT = statement(
  (d) => `select id, dag_run_id, dag_id, task_id, state, try_id, try_number, max_tries, queued_at, start_date, hostname, pid
    from task_instance where id ${d.inList}`,
);

/** A task instance as a try's end reads it. */
export interface CurrentRow {
  id: number;
  dag_run_id: number;
  dag_id: string;
  task_id: string;
  state: string;
  try_id: string | null;
  try_number: number;
  max_tries: number;
  queued_at: number | null;
  start_date: number | null;
  hostname: string | null;
  pid: number | null;
}

const FINISH_COLUMNS: Columns = [
  ["id", "bigint"], ["try_id", "text"], ["state", "text"], ["start_date", "bigint"], ["end_date", "bigint"], ["duration_ms", "bigint"],
  ["next_retry_at", "bigint"], ["hostname", "text"], ["pid", "integer"], ["updated_at", "bigint"],
];
const FINISH_SET = `state = v.state, start_date = v.start_date, end_date = v.end_date, duration_ms = v.duration_ms,
  next_retry_at = v.next_retry_at, hostname = v.hostname, pid = v.pid, updated_at = v.updated_at`;
const FINISH_WHERE = `task_instance.id = v.id and task_instance.try_id = v.try_id and task_instance.state in ${IN_FLIGHT}`;
const FINISH = statement((d) => `update task_instance set ${FINISH_SET} from ${d.rows(FINISH_COLUMNS)} where ${FINISH_WHERE}`);

const TRY_COLUMNS: Columns = [
  ["ti_id", "bigint"], ["dag_run_id", "bigint"], ["dag_id", "text"], ["task_id", "text"], ["try_number", "integer"], ["try_id", "text"], ["state", "text"],
  ["queued_at", "bigint"], ["start_date", "bigint"], ["end_date", "bigint"], ["duration_ms", "bigint"], ["hostname", "text"], ["pid", "integer"], ["error", "text"],
];
const INSERT_TRIES = statement((d) => `insert into task_try (${names(TRY_COLUMNS)}) select ${names(TRY_COLUMNS)} from ${d.rows(TRY_COLUMNS)}`);

const XCOM_COLUMNS: Columns = [["dag_run_id", "bigint"], ["task_id", "text"], ["key", "text"], ["value", "text"], ["created_at", "bigint"]];
const OUTPUT_COLUMNS: Columns = [["ti_id", "bigint"], ...XCOM_COLUMNS];
const XCOM_CONFLICT = "on conflict (dag_run_id, task_id, key) do update set value = excluded.value, created_at = excluded.created_at";
// "where true" keeps SQLite from reading ON CONFLICT as a join constraint.
const UPSERT_XCOMS = statement((d) => `insert into xcom (${names(XCOM_COLUMNS)}) select ${names(XCOM_COLUMNS)} from ${d.rows(XCOM_COLUMNS)} where true ${XCOM_CONFLICT}`);

/**
 * Where data-modifying WITH exists (PostgreSQL), a batch of ends is one round trip: the update is
 * the compare-and-set, and history rows and outputs are written only for the rows it changed.
 */
const FINISH_ALL = statement((d) =>
  d.writableCte
    ? `with fin as (update task_instance set ${FINISH_SET} from ${d.rows(FINISH_COLUMNS)} where ${FINISH_WHERE} returning task_instance.id),
    tries as (
      insert into task_try (${names(TRY_COLUMNS)}) select ${names(TRY_COLUMNS).replace(/(^|, )/g, "$1w.")}
      from ${d.rows(TRY_COLUMNS).replace(" as v(", " as w(")} join fin on fin.id = w.ti_id),
    outputs as (
      insert into xcom (${names(XCOM_COLUMNS)}) select ${names(XCOM_COLUMNS).replace(/(^|, )/g, "$1x.")}
      from ${d.rows(OUTPUT_COLUMNS).replace(" as v(", " as x(")} join fin on fin.id = x.ti_id ${XCOM_CONFLICT})
    select id from fin`
    : "select 1 where false",
);

/**
 * Ends that are final whatever the row holds (success, skip, a failure that may not be retried)
 * need no read first: the compare-and-set itself keeps the row's first start, host and pid and
 * returns what the history row needs. On PostgreSQL the history and the output go in the same
 * statement.
 */
const FINAL_COLUMNS: Columns = [
  ["id", "bigint"], ["try_id", "text"], ["state", "text"], ["start_date", "bigint"], ["end_date", "bigint"], ["hostname", "text"], ["pid", "integer"], ["updated_at", "bigint"],
  ["error", "text"],
];
const FINAL_OUTPUT_COLUMNS: Columns = [["ti_id", "bigint"], ["value", "text"], ["created_at", "bigint"]];
const finalSet = (d: DialectSql) => `state = v.state, start_date = coalesce(task_instance.start_date, v.start_date), end_date = v.end_date,
  duration_ms = ${d.greatest}(0, v.end_date - coalesce(task_instance.start_date, v.start_date)), next_retry_at = null,
  hostname = coalesce(task_instance.hostname, v.hostname), pid = coalesce(task_instance.pid, v.pid), updated_at = v.updated_at`;
const FINAL_RETURNING = ["id", "dag_run_id", "dag_id", "task_id", "try_number", "try_id", "state", "queued_at", "start_date", "end_date", "duration_ms", "hostname", "pid"]
  .map((c) => `task_instance.${c}`)
  .join(", ");
const FINISH_FINAL = statement((d) =>
  d.writableCte
    ? `with fin as (update task_instance set ${finalSet(d)} from ${d.rows(FINAL_COLUMNS)} where ${FINISH_WHERE} returning ${FINAL_RETURNING}, v.error),
    tries as (insert into task_try (${names(TRY_COLUMNS)})
      select id, dag_run_id, dag_id, task_id, try_number, try_id, state, queued_at, start_date, end_date, duration_ms, hostname, pid, error from fin),
    outputs as (
      insert into xcom (${names(XCOM_COLUMNS)}) select fin.dag_run_id, fin.task_id, 'return_value', x.value, x.created_at
      from ${d.rows(FINAL_OUTPUT_COLUMNS).replace(" as v(", " as x(")} join fin on fin.id = x.ti_id ${XCOM_CONFLICT})
    select id, dag_run_id, task_id, try_id, state from fin`
    : `update task_instance set ${finalSet(d)} from ${d.rows(FINAL_COLUMNS)} where ${FINISH_WHERE} returning ${FINAL_RETURNING}`,
);

interface FinalRow {
  id: number;
  dag_run_id: number;
  dag_id: string;
  task_id: string;
  try_number: number;
  try_id: string;
  state: TaskInstanceState;
  queued_at: number | null;
  start_date: number;
  end_date: number;
  duration_ms: number;
  hostname: string | null;
  pid: number | null;
}

function names(columns: Columns): string {
  return columns.map(([n]) => n).join(", ");
}

/**
 * Records the end of tries. Each report is applied only if its try is its task instance's current
 * one and still queued or running; the others are refused (and change nothing):
 * - UPDRAFT_E_TRY_UNKNOWN: no task instance has such a try (not a try id, or a deleted run);
 * - UPDRAFT_E_TRY_STALE: the task instance moved on (it ended, was marked, cleared, handed back);
 * - UPDRAFT_E_TRY_DUPLICATE: the batch names the try twice (the first report counts).
 */
export async function finishTries(ctx: SqlContext, cache: RunCache, reports: readonly FinishReport[], now: number): Promise<{ ended: EndedTry[]; refused: Refusal[] }> {
  const refused: Refusal[] = [];
  const accepted = new Map<string, Accepted>();
  for (const report of reports) {
    const parsed = parseTryId(report.tryId);
    if (!parsed) refused.push({ tryId: String(report.tryId), code: "UPDRAFT_E_TRY_UNKNOWN", message: "not a try id" });
    else if (accepted.has(report.tryId)) refused.push({ tryId: report.tryId, code: "UPDRAFT_E_TRY_DUPLICATE", message: "the try's end is reported twice in one batch; the first report counts" });
    else accepted.set(report.tryId, { report, tiId: parsed.tiId });
  }
  // Only a failure that may be retried needs the row (its try number, max tries) before deciding.
  const final: Accepted[] = [];
  const undecided: Accepted[] = [];
  for (const a of accepted.values()) (a.report.result.outcome === "failed" && a.report.result.error?.retryable !== false ? undecided : final).push(a);
  const ended: EndedTry[] = [];
  const missed: Accepted[] = [];
  if (final.length > 0) ended.push(...(await finishFinal(ctx, cache, final, now, missed)));
  if (undecided.length > 0) ended.push(...(await finishDecided(ctx, cache, undecided, now, refused)));
  if (missed.length > 0) refused.push(...(await whyRefused(ctx, missed)));
  return { ended, refused };
}

interface Accepted {
  report: FinishReport;
  tiId: number;
}

/** Final ends, applied by their compare-and-set alone; the reports it did not apply go to `missed`. */
async function finishFinal(ctx: SqlContext, cache: RunCache, final: Accepted[], now: number, missed: Accepted[]): Promise<EndedTry[]> {
  const d = dialectSql(ctx);
  const applied: Array<{ row: Pick<FinalRow, "id" | "dag_run_id" | "task_id" | "try_id" | "state">; report: FinishReport }> = [];
  const byTryId = new Map(final.map((a) => [a.report.tryId, a]));
  for (const part of chunk(final, PART)) {
    const updates = part.map(({ report: { tryId, result, started }, tiId }) => ({
      id: tiId, try_id: tryId, state: result.outcome, start_date: started?.at ?? result.at, end_date: result.at, hostname: started?.hostname ?? null, pid: started?.pid ?? null,
      updated_at: now, error: result.error ? JSON.stringify(result.error) : null,
    }));
    const outputs = part.flatMap(({ report: { result }, tiId }) => (result.outcome === "success" && result.output !== undefined ? [{ ti_id: tiId, value: result.output, created_at: now }] : []));
    if (d.writableCte) {
      for (const row of await query<FinalRow>(ctx, FINISH_FINAL, [rows(ctx, FINAL_COLUMNS, updates), rows(ctx, FINAL_OUTPUT_COLUMNS, outputs)])) {
        applied.push({ row: { ...row, id: Number(row.id), dag_run_id: Number(row.dag_run_id) }, report: byTryId.get(row.try_id)!.report });
      }
      continue;
    }
    // One writer (SQLite): the history and outputs follow from what the update returned.
    const done = (await query<FinalRow>(ctx, FINISH_FINAL, [rows(ctx, FINAL_COLUMNS, updates)])).map((r) => ({ ...r, id: Number(r.id), dag_run_id: Number(r.dag_run_id) }));
    const errors = new Map(updates.map((u) => [u.id, u.error]));
    const history = done.map((r) => ({ ...r, ti_id: r.id, error: errors.get(r.id) ?? null }));
    if (history.length > 0) await exec(ctx, INSERT_TRIES, [rows(ctx, TRY_COLUMNS, history)]);
    const doneById = new Map(done.map((r) => [r.id, r]));
    const stored = outputs.flatMap((o) => {
      const r = doneById.get(o.ti_id);
      return r ? [{ dag_run_id: r.dag_run_id, task_id: r.task_id, key: "return_value", value: o.value, created_at: o.created_at }] : [];
    });
    if (stored.length > 0) await exec(ctx, UPSERT_XCOMS, [rows(ctx, XCOM_COLUMNS, stored)]);
    for (const row of done) applied.push({ row, report: byTryId.get(row.try_id)!.report });
  }
  const seen = new Set(applied.map((a) => a.report.tryId));
  for (const a of final) if (!seen.has(a.report.tryId)) missed.push(a);
  const runs = await cache.runs(ctx.db, applied.map((a) => a.row.dag_run_id));
  return applied.map(({ row, report }) => {
    const task = runs.get(row.dag_run_id)?.graph.tasks.get(row.task_id);
    const follow = task?.kind === "branch" && row.state === "success" ? branchFollow(report.result.output) : undefined;
    return { tryId: report.tryId, tiId: row.id, dagRunId: row.dag_run_id, taskId: row.task_id, state: row.state, ...(follow ? { follow } : {}) };
  });
}

/** Why reports were not applied: no such task instance, or it moved on. */
async function whyRefused(ctx: SqlContext, missed: Accepted[]): Promise<Refusal[]> {
  const current = new Map<number, CurrentRow>();
  for (const part of chunk(missed.map((a) => a.tiId), PART)) {
    for (const r of await query<CurrentRow>(ctx, CURRENT, [list(ctx, part)])) current.set(Number(r.id), r);
  }
  return missed.map(({ report, tiId }) => {
    const row = current.get(tiId);
    if (!row) return { tryId: report.tryId, code: "UPDRAFT_E_TRY_UNKNOWN", message: "no task instance has this try (its run may have been deleted)" };
    return { tryId: report.tryId, code: "UPDRAFT_E_TRY_STALE", message: `the task instance is ${row.state}${row.try_id === report.tryId ? "" : " with another try"}: this try's end changes nothing` };
  });
}

/** Ends whose meaning depends on the row (a failure that may be retried): read, decided, then written. */
async function finishDecided(ctx: SqlContext, cache: RunCache, accepted: Accepted[], now: number, refused: Refusal[]): Promise<EndedTry[]> {
  const current = new Map<number, CurrentRow>();
  for (const part of chunk(accepted.map((a) => a.tiId), PART)) {
    for (const r of await query<CurrentRow>(ctx, CURRENT, [list(ctx, part)])) current.set(Number(r.id), { ...r, id: Number(r.id), dag_run_id: Number(r.dag_run_id) });
  }
  const live: Array<{ report: FinishReport; row: CurrentRow }> = [];
  for (const { report, tiId } of accepted) {
    const row = current.get(tiId);
    if (!row) refused.push({ tryId: report.tryId, code: "UPDRAFT_E_TRY_UNKNOWN", message: "no task instance has this try (its run may have been deleted)" });
    else if (row.try_id !== report.tryId || (row.state !== "queued" && row.state !== "running")) {
      refused.push({ tryId: report.tryId, code: "UPDRAFT_E_TRY_STALE", message: `the task instance is ${row.state}${row.try_id === report.tryId ? "" : " with another try"}: this try's end changes nothing` });
    } else live.push({ report, row });
  }
  if (live.length === 0) return [];
  const runs = await cache.runs(ctx.db, live.map((l) => l.row.dag_run_id));
  const updates: Array<Record<string, unknown>> = [];
  const history: Array<Record<string, unknown>> = [];
  const outputs: Array<Record<string, unknown> & { ti_id: number }> = [];
  const ended: EndedTry[] = [];
  for (const { report, row } of live) {
    const { result, started } = report;
    const task = runs.get(row.dag_run_id)?.graph.tasks.get(row.task_id);
    const { state, nextRetryAt } = decideEnd(result.outcome, result.error?.retryable !== false, row.try_number, row.max_tries, task?.options, result.at);
    // The task instance shows its try's first start, host and pid.
    const start = row.start_date ?? started?.at ?? result.at;
    const hostname = row.hostname ?? started?.hostname ?? null;
    const pid = row.pid ?? started?.pid ?? null;
    const duration = Math.max(0, result.at - start);
    updates.push({ id: row.id, try_id: report.tryId, state, start_date: start, end_date: result.at, duration_ms: duration, next_retry_at: nextRetryAt, hostname, pid, updated_at: now });
    history.push({
      ti_id: row.id, dag_run_id: row.dag_run_id, dag_id: row.dag_id, task_id: row.task_id, try_number: row.try_number, try_id: report.tryId, state: result.outcome,
      queued_at: row.queued_at, start_date: start, end_date: result.at, duration_ms: duration, hostname, pid, error: result.error ? JSON.stringify(result.error) : null,
    });
    if (result.outcome === "success" && result.output !== undefined) {
      outputs.push({ ti_id: row.id, dag_run_id: row.dag_run_id, task_id: row.task_id, key: "return_value", value: result.output, created_at: now });
    }
    const follow = task?.kind === "branch" && result.outcome === "success" ? branchFollow(result.output) : undefined;
    ended.push({ tryId: report.tryId, tiId: row.id, dagRunId: row.dag_run_id, taskId: row.task_id, state, ...(follow ? { follow } : {}), ...(nextRetryAt !== null ? { nextRetryAt } : {}) });
  }

  const applied = new Set<number>();
  if (dialectSql(ctx).writableCte) {
    // Parts of one batch: the ranges line up because every list is in the same order.
    for (const part of chunk(updates.map((_, i) => i), PART)) {
      const ids = new Set(part.map((i) => updates[i]!.id));
      const done = await query<{ id: number }>(ctx, FINISH_ALL, [rows(ctx, FINISH_COLUMNS, part.map((i) => updates[i]!)), rows(ctx, TRY_COLUMNS, part.map((i) => history[i]!)), rows(ctx, OUTPUT_COLUMNS, outputs.filter((x) => ids.has(x.ti_id)))]);
      for (const r of done) applied.add(Number(r.id));
    }
  } else {
    // One writer (SQLite): the rows read above in this transaction are still current.
    for (const part of chunk(updates, PART)) await exec(ctx, FINISH, [rows(ctx, FINISH_COLUMNS, part)]);
    for (const part of chunk(history, PART)) await exec(ctx, INSERT_TRIES, [rows(ctx, TRY_COLUMNS, part)]);
    for (const part of chunk(outputs, PART)) await exec(ctx, UPSERT_XCOMS, [rows(ctx, XCOM_COLUMNS, part)]);
    for (const u of updates) applied.add(u.id as number);
  }
  for (const e of ended) {
    if (!applied.has(e.tiId)) refused.push({ tryId: e.tryId, code: "UPDRAFT_E_TRY_STALE", message: "the task instance moved on meanwhile: this try's end changes nothing" });
  }
  return ended.filter((e) => applied.has(e.tiId));
}

/** The task ids a branch chose (the runner checked them); anything else follows nothing. */
export function branchFollow(output: string | undefined): string[] {
  try {
    const value: unknown = JSON.parse(output ?? "[]");
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  } catch {
    return [];
  }
}

// ---- what a try sends while it runs: XComs and log lines --------------------------------------

const PUSH_COLUMNS: Columns = [["ti_id", "bigint"], ["try_id", "text"], ["key", "text"], ["value", "text"], ["created_at", "bigint"]];
const PUSH_XCOMS = statement(
  (d) => `insert into xcom (${names(XCOM_COLUMNS)})
    select ti.dag_run_id, ti.task_id, v.key, v.value, v.created_at from ${d.rows(PUSH_COLUMNS)}
    join task_instance ti on ti.id = v.ti_id and ti.try_id = v.try_id and ti.state in ${IN_FLIGHT} where true ${XCOM_CONFLICT}`,
);

/** XComs a try pushed; kept only while the try is in flight (a try that ended pushes nothing). */
export async function pushXcoms(ctx: SqlContext, pushes: ReadonlyArray<{ tryId: string; key: string; value: string }>, now: number): Promise<void> {
  // One row per key: a statement may not upsert the same row twice; the last value wins.
  const last = new Map<string, Record<string, unknown>>();
  for (const p of pushes) {
    const parsed = parseTryId(p.tryId);
    if (parsed) last.set(`${p.tryId}\0${p.key}`, { ti_id: parsed.tiId, try_id: p.tryId, key: p.key, value: p.value, created_at: now });
  }
  for (const part of chunk([...last.values()], PART)) await exec(ctx, PUSH_XCOMS, [rows(ctx, PUSH_COLUMNS, part)]);
}

const LOG_COLUMNS: Columns = [["ti_id", "bigint"], ["try_number", "integer"], ["ts", "bigint"], ["stream", "text"], ["level", "text"], ["message", "text"]];
const INSERT_LOGS = statement(
  (d) => `insert into task_log (${names(LOG_COLUMNS)}) select ${names(LOG_COLUMNS).replace(/(^|, )/g, "$1v.")} from ${d.rows(LOG_COLUMNS)}
    join task_instance ti on ti.id = v.ti_id and ti.try_number = v.try_number`,
);

/**
 * Log lines of tries, also after they ended (what a stopped try logs on its way out); kept for
 * the try the id names while it is its task instance's latest.
 */
export async function appendLogs(ctx: SqlContext, batches: ReadonlyArray<{ tryId: string; lines: readonly LogLine[] }>): Promise<void> {
  const all = batches.flatMap(({ tryId, lines }) => {
    const parsed = parseTryId(tryId);
    return parsed ? lines.map((l) => ({ ti_id: parsed.tiId, try_number: parsed.tryNumber, ts: l.ts, stream: l.stream, level: l.level, message: l.message })) : [];
  });
  for (const part of chunk(all, PART)) await exec(ctx, INSERT_LOGS, [rows(ctx, LOG_COLUMNS, part)]);
}
