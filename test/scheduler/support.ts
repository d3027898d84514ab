/** Reads and waits shared by the scheduler integration tests (test/scheduler/*.test.ts). */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestEnv } from "../helpers/env.js";

export interface TryRow {
  tryNumber: number;
  state: string;
  start: number | null;
  end: number;
  pid: number | null;
  error: { message: string; code: string | null; stack: string | null; retryable: boolean } | null;
}

/** The finished tries of one task of a run, oldest first, with the error parsed. */
export async function triesOf(env: TestEnv, dagRunId: number, taskId: string): Promise<TryRow[]> {
  const rows = await env.store.db
    .selectFrom("task_try")
    .selectAll()
    .where("dag_run_id", "=", dagRunId)
    .where("task_id", "=", taskId)
    .orderBy("try_number")
    .execute();
  return rows.map((r) => ({
    tryNumber: r.try_number,
    state: r.state,
    start: r.start_date === null ? null : Number(r.start_date),
    end: Number(r.end_date),
    pid: r.pid,
    error: r.error === null ? null : (JSON.parse(r.error) as TryRow["error"]),
  }));
}

/** Every finished try of a run (all tasks), oldest start first. */
export async function allTries(env: TestEnv, dagRunId: number): Promise<Array<TryRow & { taskId: string }>> {
  const rows = await env.store.db.selectFrom("task_try").selectAll().where("dag_run_id", "=", dagRunId).orderBy("start_date").orderBy("id").execute();
  return rows.map((r) => ({
    taskId: r.task_id,
    tryNumber: r.try_number,
    state: r.state,
    start: r.start_date === null ? null : Number(r.start_date),
    end: Number(r.end_date),
    pid: r.pid,
    error: r.error === null ? null : (JSON.parse(r.error) as TryRow["error"]),
  }));
}

export async function xcomOf(env: TestEnv, dagRunId: number, taskId: string, key = "return_value"): Promise<unknown> {
  const row = await env.store.db
    .selectFrom("xcom")
    .select("value")
    .where("dag_run_id", "=", dagRunId)
    .where("task_id", "=", taskId)
    .where("key", "=", key)
    .executeTakeFirst();
  return row === undefined ? undefined : JSON.parse(row.value);
}

export async function logLines(env: TestEnv, tiId: number, tryNumber: number): Promise<Array<{ stream: string; level: string; message: string }>> {
  return env.store.db
    .selectFrom("task_log")
    .select(["stream", "level", "message"])
    .where("ti_id", "=", tiId)
    .where("try_number", "=", tryNumber)
    .orderBy("id")
    .execute();
}

export async function dagRuns(env: TestEnv, dagId: string) {
  const rows = await env.store.db.selectFrom("dag_run").selectAll().where("dag_id", "=", dagId).orderBy("logical_date").execute();
  return rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
    runType: r.run_type,
    state: r.state,
    logicalDate: Number(r.logical_date),
    start: Number(r.data_interval_start),
    end: Number(r.data_interval_end),
    startDate: r.start_date === null ? null : Number(r.start_date),
    endDate: r.end_date === null ? null : Number(r.end_date),
  }));
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The most intervals [start, end) that are open at one instant. */
export function maxOverlap(intervals: Array<{ start: number; end: number }>): number {
  const points = intervals.flatMap((i) => [
    { at: i.start, delta: 1 },
    { at: i.end, delta: -1 },
  ]);
  // At equal instants, an end comes before a start: touching intervals do not overlap.
  points.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let most = 0;
  for (const p of points) {
    open += p.delta;
    most = Math.max(most, open);
  }
  return most;
}

/**
 * Whether a process still runs. A killed process whose parent is gone may linger as a zombie until
 * it is reaped (PID 1 in a container need not reap quickly); a zombie runs no code, so it counts as gone.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** A temporary folder for files that DAG code reads or writes; remove() deletes it. */
export function scratchDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "updraft-sched-test-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
