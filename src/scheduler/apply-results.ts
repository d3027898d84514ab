/**
 * Batched writes of what executors reported in one tick: tries that started, tries that ended
 * (with their task_try history rows and outputs), pushed XComs and log lines. Every report names
 * its try id; a report about a try that is no longer the task instance's current one (it timed
 * out, was cleared or marked meanwhile) changes nothing.
 */
import { sql, type Kysely } from "kysely";
import type { TaskInstanceState } from "../dag/model.js";
import type { LogLine, TryResult } from "../runner/protocol.js";
import type { CompiledTaskOptions } from "../sdk/definition.js";
import { chunk, MAX_PARAMS, updateFromValues } from "../store/batch.js";
import type { Database } from "../store/schema.js";
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

export async function applyStarted(trx: Kysely<Database>, tries: Array<[InflightTry, StartedReport]>, now: number): Promise<void> {
  const rows = tries.map(([t, s]) => [t.tiId, t.tryId, s.at, s.hostname, s.pid, now]);
  await updateFromValues(
    trx,
    "task_instance",
    [
      { name: "id", type: "bigint" },
      { name: "try_id", type: "text" },
      { name: "start_date", type: "bigint" },
      { name: "hostname", type: "text" },
      { name: "pid", type: "integer" },
      { name: "updated_at", type: "bigint" },
    ],
    rows,
    { set: [sql`state = 'running'`], where: sql`task_instance.try_id = v.try_id and task_instance.state = 'queued'` },
  );
}

export async function applyFinished(
  trx: Kysely<Database>,
  tries: Array<[InflightTry, TryResult, StartedReport | undefined]>,
  now: number,
  forUpdate: boolean,
): Promise<EndedTask[]> {
  if (tries.length === 0) return [];
  const current = new Map<number, { state: string; try_id: string | null; try_number: number; max_tries: number; start_date: number | null; queued_at: number | null; hostname: string | null; pid: number | null }>();
  for (const part of chunk(tries.map(([t]) => t.tiId), MAX_PARAMS)) {
    const rows = await trx
      .selectFrom("task_instance")
      .select(["id", "state", "try_id", "try_number", "max_tries", "start_date", "queued_at", "hostname", "pid"])
      .where("id", "in", part)
      .$if(forUpdate, (q) => q.forUpdate())
      .execute();
    for (const r of rows) current.set(r.id, r);
  }
  const updates: unknown[][] = [];
  const history: Array<Parameters<typeof insertTries>[1][number]> = [];
  const outputs: Array<{ dag_run_id: number; task_id: string; key: string; value: string; created_at: number }> = [];
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
    updates.push([t.tiId, state, start, result.at, Math.max(0, result.at - start), nextRetryAt, hostname, pid, now]);
    history.push({
      ti_id: t.tiId,
      dag_run_id: t.dagRunId,
      dag_id: t.dagId,
      task_id: t.taskId,
      try_number: row.try_number,
      try_id: t.tryId,
      state: result.outcome === "failed" ? "failed" : result.outcome,
      queued_at: row.queued_at,
      start_date: start,
      end_date: result.at,
      duration_ms: Math.max(0, result.at - start),
      hostname,
      pid,
      error: result.error ? JSON.stringify(result.error) : null,
    });
    if (result.outcome === "success" && result.output !== undefined) {
      outputs.push({ dag_run_id: t.dagRunId, task_id: t.taskId, key: "return_value", value: result.output, created_at: now });
    }
    const follow = t.kind === "branch" && result.outcome === "success" ? (JSON.parse(result.output ?? "[]") as string[]) : undefined;
    ended.push({ tiId: t.tiId, dagRunId: t.dagRunId, taskId: t.taskId, state, ...(follow ? { follow } : {}), ...(nextRetryAt !== null ? { nextRetryAt } : {}) });
  }
  await updateFromValues(
    trx,
    "task_instance",
    [
      { name: "id", type: "bigint" },
      { name: "state", type: "text" },
      { name: "start_date", type: "bigint" },
      { name: "end_date", type: "bigint" },
      { name: "duration_ms", type: "bigint" },
      { name: "next_retry_at", type: "bigint" },
      { name: "hostname", type: "text" },
      { name: "pid", type: "integer" },
      { name: "updated_at", type: "bigint" },
    ],
    updates,
  );
  await insertTries(trx, history);
  await upsertXcoms(trx, outputs);
  return ended;
}

async function insertTries(trx: Kysely<Database>, rows: Array<Omit<Database["task_try"], "id">>): Promise<void> {
  for (const part of chunk(rows, Math.floor(MAX_PARAMS / 14))) await trx.insertInto("task_try").values(part).execute();
}

export async function upsertXcoms(trx: Kysely<Database>, rows: Array<{ dag_run_id: number; task_id: string; key: string; value: string; created_at: number }>): Promise<void> {
  // One row per key: a statement may not update the same row twice; the last value wins.
  const unique = [...new Map(rows.map((r) => [`${r.dag_run_id}\0${r.task_id}\0${r.key}`, r])).values()];
  for (const part of chunk(unique, Math.floor(MAX_PARAMS / 5))) {
    await trx
      .insertInto("xcom")
      .values(part)
      .onConflict((oc) => oc.columns(["dag_run_id", "task_id", "key"]).doUpdateSet((eb) => ({ value: eb.ref("excluded.value"), created_at: eb.ref("excluded.created_at") })))
      .execute();
  }
}

export async function insertLogs(trx: Kysely<Database>, batches: Array<[InflightTry, LogLine[]]>): Promise<void> {
  const rows = batches.flatMap(([t, lines]) =>
    lines.map((l) => ({ ti_id: t.tiId, try_number: t.tryNumber, ts: l.ts, stream: l.stream, level: l.level, message: l.message })),
  );
  for (const part of chunk(rows, Math.floor(MAX_PARAMS / 6))) await trx.insertInto("task_log").values(part).execute();
}
