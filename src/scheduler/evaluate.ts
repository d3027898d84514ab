/**
 * Dependency evaluation for one run: which task instances in state `none` may now run, which
 * are skipped or upstream_failed (and the cascade that follows), and whether the run is done.
 *
 * The fast path starts from the tasks that just ended and looks only at their direct
 * downstream tasks. For a fan-in (one task after thousands), re-reading every upstream state
 * after each of them ends would cost O(n²); instead the scheduler remembers, per waiting task,
 * one upstream task it still waits for, and skips the evaluation while that one is unfinished
 * and the task that ended cannot force an early decision. That memory is only a shortcut: the
 * full evaluation (run start and the backstop pass) rebuilds it from the database.
 */
import type { Kysely } from "kysely";
import { FINISHED_STATES, UNFINISHED_STATES, type TaskInstanceState } from "../dag/model.js";
import { chunk } from "../store/batch.js";
import type { Database } from "../store/schema.js";
import { exec, list, query, statement, type SqlContext } from "../store/sql.js";
import type { RunInfo } from "./run-cache.js";
import { canDecideEarly, countUpstream, decide } from "./trigger-rules.js";

export interface RunSeeds {
  /** Tasks that ended (by a try, a skip, a mark) since the last evaluation, with their state. */
  ended: Map<string, TaskInstanceState>;
  /** Branch tasks that succeeded, with the direct downstream tasks they follow. */
  branches: Map<string, ReadonlySet<string>>;
  /** Evaluate every task of the run (run start, backstop, after a clear). */
  full: boolean;
}

export type RunOutcome = "success" | "failed" | null;

export interface EvaluationResult {
  /** Set when the run ended in this evaluation. */
  outcome: RunOutcome;
  /** Tasks decided here (scheduled, skipped or upstream_failed). */
  decided: Map<string, TaskInstanceState>;
  /** The run can make no progress: it was failed for a deadlock. */
  deadlock: string[] | null;
}

/** Per run: waiting task → the upstream task it was last seen waiting for. */
export type WaitMemory = Map<number, Map<string, string>>;

type StateMap = Map<string, { id: number; state: TaskInstanceState }>;

const FULL_LOAD_THRESHOLD = 500;

const ALL_STATES = statement(() => "select id, task_id, state from task_instance where dag_run_id = ?");
const SOME_STATES = statement((d) => `select id, task_id, state from task_instance where dag_run_id = ? and task_id ${d.inList}`);
const UNFINISHED = statement(
  () => `select 1 as x from task_instance where dag_run_id = ? and state in (${UNFINISHED_STATES.map((s) => `'${s}'`).join(", ")}) limit 1`,
);
const SET_SCHEDULED = statement((d) => `update task_instance set state = 'scheduled', scheduled_at = ?, updated_at = ? where id ${d.inList} and state = 'none'`);
const SET_ENDED = statement((d) => `update task_instance set state = ?, end_date = ?, updated_at = ? where id ${d.inList} and state = 'none'`);

async function loadStates(ctx: SqlContext, dagRunId: number, taskIds: Iterable<string> | null, into: StateMap): Promise<void> {
  const ids = taskIds === null ? null : [...taskIds].filter((t) => !into.has(t));
  if (ids !== null && ids.length === 0) return;
  const found =
    ids === null
      ? await query<{ id: number; task_id: string; state: TaskInstanceState }>(ctx, ALL_STATES, [dagRunId])
      : (await Promise.all(chunk(ids, 5_000).map((part) => query<{ id: number; task_id: string; state: TaskInstanceState }>(ctx, SOME_STATES, [dagRunId, list(ctx, part)])))).flat();
  for (const r of found) into.set(r.task_id, { id: Number(r.id), state: r.state });
}

export async function evaluateRun(ctx: SqlContext, run: RunInfo, seeds: RunSeeds, memory: WaitMemory, now: number): Promise<EvaluationResult> {
  const { graph } = run;
  const { order } = graph;
  let waits = memory.get(run.dagRunId);
  if (!waits || seeds.full) {
    waits = new Map();
    memory.set(run.dagRunId, waits);
  }
  const states: StateMap = new Map();
  const decided = new Map<string, TaskInstanceState>();

  // 1. The first candidates.
  let frontier = new Set<string>();
  if (seeds.full) {
    await loadStates(ctx, run.dagRunId, null, states);
    for (const t of graph.dag.tasks) frontier.add(t.taskId);
  } else {
    for (const [branchId, follow] of seeds.branches) {
      for (const down of graph.downstream.get(branchId) ?? []) if (!follow.has(down)) frontier.add(down);
    }
    for (const [taskId, state] of seeds.ended) {
      for (const down of graph.downstream.get(taskId) ?? []) {
        const task = graph.tasks.get(down)!;
        const waitingFor = waits.get(down);
        if (waitingFor !== undefined && waitingFor !== taskId && !canDecideEarly(task.options.triggerRule, state)) continue;
        frontier.add(down);
      }
    }
  }
  const branchSkip = new Set<string>();
  for (const [branchId, follow] of seeds.branches) {
    for (const down of graph.downstream.get(branchId) ?? []) if (!follow.has(down)) branchSkip.add(down);
  }

  // 2. Decide, cascading skips and upstream failures downstream.
  while (frontier.size > 0) {
    if (!seeds.full) {
      const need = new Set(frontier);
      for (const t of frontier) for (const up of graph.tasks.get(t)!.upstream) need.add(up);
      await loadStates(ctx, run.dagRunId, need.size > FULL_LOAD_THRESHOLD ? null : need, states);
    }
    const next = new Set<string>();
    for (const taskId of [...frontier].sort((a, b) => order.get(a)! - order.get(b)!)) {
      const current = states.get(taskId);
      if (!current || current.state !== "none") continue;
      const task = graph.tasks.get(taskId)!;
      let decision: ReturnType<typeof decide>;
      if (branchSkip.has(taskId)) {
        decision = "skipped";
      } else {
        const upstream = task.upstream.map((u) => states.get(u)?.state ?? "none");
        decision = decide(task.options.triggerRule, countUpstream(upstream));
        if (decision === "wait") {
          // Remember the unfinished upstream task that is likely to end last (the latest in order).
          let last: string | undefined;
          for (const u of task.upstream) if (!FINISHED_STATES.has(states.get(u)?.state ?? "none") && (last === undefined || order.get(u)! > order.get(last)!)) last = u;
          if (last !== undefined) waits.set(taskId, last);
          continue;
        }
      }
      waits.delete(taskId);
      const state: TaskInstanceState = decision === "run" ? "scheduled" : decision;
      current.state = state;
      decided.set(taskId, state);
      if (state !== "scheduled") for (const down of graph.downstream.get(taskId) ?? []) next.add(down);
    }
    frontier = next;
  }

  // 3. Write the decisions, one statement per resulting state.
  const byState = new Map<TaskInstanceState, number[]>();
  for (const [taskId, state] of decided) {
    const list = byState.get(state) ?? [];
    list.push(states.get(taskId)!.id);
    byState.set(state, list);
  }
  for (const [state, ids] of byState) {
    for (const part of chunk(ids, 5_000)) {
      if (state === "scheduled") await exec(ctx, SET_SCHEDULED, [now, now, list(ctx, part)]);
      else await exec(ctx, SET_ENDED, [state, now, now, list(ctx, part)]);
    }
  }

  // 4. Is the run over?
  let unfinished: boolean;
  if (seeds.full) {
    unfinished = [...states.values()].some((s) => !FINISHED_STATES.has(s.state));
  } else if ([...decided.values()].includes("scheduled")) {
    unfinished = true; // a task was just made ready: the run goes on
  } else {
    unfinished = (await query(ctx, UNFINISHED, [run.dagRunId])).length > 0;
  }
  if (unfinished) {
    if (seeds.full && decided.size === 0) {
      const stuck = [...states].filter(([, s]) => s.state === "none").map(([t]) => t);
      const moving = [...states.values()].some((s) => !FINISHED_STATES.has(s.state) && s.state !== "none");
      if (!moving && stuck.length > 0) {
        await finishRun(ctx.db, run.dagRunId, "failed", now, `deadlock: ${stuck.slice(0, 10).join(", ")} can never run`);
        memory.delete(run.dagRunId);
        return { outcome: "failed", decided, deadlock: stuck };
      }
    }
    return { outcome: null, decided, deadlock: null };
  }
  await loadStates(ctx, run.dagRunId, graph.leaves, states);
  const failed = graph.leaves.some((leaf) => {
    const s = states.get(leaf)?.state;
    return s === "failed" || s === "upstream_failed";
  });
  const outcome = failed ? "failed" : "success";
  memory.delete(run.dagRunId);
  return { outcome: (await finishRun(ctx.db, run.dagRunId, outcome, now, null)) ? outcome : null, decided, deadlock: null };
}

/** running → success/failed, once. */
export async function finishRun(trx: Kysely<Database>, dagRunId: number, state: "success" | "failed", now: number, note: string | null): Promise<boolean> {
  const result = await trx
    .updateTable("dag_run")
    .set({ state, end_date: now, updated_at: now, ...(note ? { note } : {}) })
    .where("id", "=", dagRunId)
    .where("state", "=", "running")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
