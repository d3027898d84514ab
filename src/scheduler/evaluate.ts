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
 *
 * All runs a tick touches are evaluated together, so the statements per tick do not grow with
 * the number of runs (each one is a round trip on PostgreSQL).
 */
import type { Kysely } from "kysely";
import { FINISHED_STATES, UNFINISHED_STATES, type TaskInstanceState } from "../dag/model.js";
import { branchFollow } from "../execution/tries.js";
import { chunk } from "../store/batch.js";
import type { Database } from "../store/schema.js";
import { exec, list, query, rows, statement, type Columns, type SqlContext } from "../store/sql.js";
import type { RunInfo } from "./run-cache.js";
import { canDecideEarly, countUpstream, decide } from "./trigger-rules.js";

export interface RunSeeds {
  /** Tasks that ended (by a try, a skip, a mark) since the last evaluation, with their state. */
  ended: Map<string, TaskInstanceState>;
  /** Branch tasks that succeeded, with the direct downstream tasks they follow. */
  branches: Map<string, ReadonlySet<string>>;
  /** Evaluate every task of the run (run start, backstop, after a clear). */
  full: boolean;
  /** A try of this run is on its way (this scheduler dispatched it): the run cannot be over. */
  busy?: boolean;
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

/** A task's state as this evaluation knows it; `id` is null where no row was read (ended this tick, or assumed). */
type StateMap = Map<string, { id: number | null; state: TaskInstanceState }>;

/** Above this many task instances to read, a run's states are read whole. */
const FULL_LOAD_THRESHOLD = 500;
const UNFINISHED_LIST = UNFINISHED_STATES.map((s) => `'${s}'`).join(", ");

const RUN_STATES = statement((d) => `select dag_run_id, id, task_id, state from task_instance where dag_run_id ${d.inList}`);
const PAIR_COLUMNS: Columns = [["dag_run_id", "bigint"], ["task_id", "text"]];
const PAIR_STATES = statement(
  (d) => `select ti.dag_run_id, ti.id, ti.task_id, ti.state from ${d.rows(PAIR_COLUMNS)}
    cross join task_instance ti where ti.dag_run_id = v.dag_run_id and ti.task_id = v.task_id`,
);
const RUN_COLUMNS: Columns = [["dag_run_id", "bigint"]];
const UNFINISHED_RUNS = statement(
  (d) => `select distinct dag_run_id from ${d.rows(RUN_COLUMNS)} where exists
    (select 1 from task_instance ti where ti.dag_run_id = v.dag_run_id and ti.state in (${UNFINISHED_LIST}))`,
);
const SET_SCHEDULED = statement((d) => d.updateIdIn("task_instance", "state = 'scheduled', scheduled_at = ?, updated_at = ?", "state = 'none'"));
const SET_ENDED = statement((d) => d.updateIdIn("task_instance", "state = ?, end_date = ?, updated_at = ?", "state = 'none'"));
const DECISION_COLUMNS: Columns = [["dag_run_id", "bigint"], ["task_id", "text"], ["state", "text"]];
/** Decisions about task instances not read first: applied only where the row is still `none`. */
const SET_DECIDED = statement(
  (d) => `update task_instance set state = v.state, updated_at = ?,
      scheduled_at = case when v.state = 'scheduled' then ? else task_instance.scheduled_at end,
      end_date = case when v.state = 'scheduled' then task_instance.end_date else ? end
    from ${d.rows(DECISION_COLUMNS)}
    where task_instance.dag_run_id = v.dag_run_id and task_instance.task_id = v.task_id and task_instance.state = 'none'
    returning task_instance.id, task_instance.dag_run_id, task_instance.task_id`,
);

type StateRow = { dag_run_id: number; id: number; task_id: string; state: TaskInstanceState };

interface RunWork {
  run: RunInfo;
  seeds: RunSeeds;
  waits: Map<string, string>;
  states: StateMap;
  decided: Map<string, TaskInstanceState>;
  frontier: Set<string>;
  branchSkip: Set<string>;
  /** Read every state of the run (not only those near the frontier). */
  whole: boolean;
  /** Frontier tasks not read: every upstream state is known, so they are decided as if `none` (see decideAssumed). */
  assumed: Set<string>;
  /** Decisions already written (by decideAssumed). */
  written: Set<string>;
}

/** Reads the states the evaluation needs, for all runs at once: whole runs, or (run, task) pairs. */
async function loadStates(ctx: SqlContext, work: RunWork[], need: (w: RunWork) => Iterable<string> | null): Promise<void> {
  const byRun = new Map(work.map((w) => [w.run.dagRunId, w]));
  const whole: number[] = [];
  const pairs: Array<{ dag_run_id: number; task_id: string }> = [];
  for (const w of work) {
    const wanted = need(w);
    if (wanted === null) {
      whole.push(w.run.dagRunId);
      continue;
    }
    const missing = [...new Set(wanted)].filter((t) => !w.states.has(t));
    if (missing.length > FULL_LOAD_THRESHOLD) whole.push(w.run.dagRunId);
    else for (const task_id of missing) pairs.push({ dag_run_id: w.run.dagRunId, task_id });
  }
  const found: StateRow[] = [];
  for (const part of chunk(whole, 1_000)) found.push(...(await query<StateRow>(ctx, RUN_STATES, [list(ctx, part)])));
  for (const part of chunk(pairs, 5_000)) found.push(...(await query<StateRow>(ctx, PAIR_STATES, [rows(ctx, PAIR_COLUMNS, part)])));
  for (const r of found) {
    const w = byRun.get(Number(r.dag_run_id))!;
    // States decided in this evaluation stay as decided.
    if (!w.states.has(r.task_id)) w.states.set(r.task_id, { id: Number(r.id), state: r.state });
  }
}

/** Evaluates the runs a tick touched; returns each run's result. */
export async function evaluateRuns(ctx: SqlContext, runs: Array<[RunInfo, RunSeeds]>, memory: WaitMemory, now: number): Promise<Map<number, EvaluationResult>> {
  const work: RunWork[] = runs.map(([run, seeds]) => {
    let waits = memory.get(run.dagRunId);
    if (!waits || seeds.full) {
      waits = new Map();
      memory.set(run.dagRunId, waits);
    }
    const { graph } = run;
    const frontier = new Set<string>();
    const branchSkip = new Set<string>();
    for (const [branchId, follow] of seeds.branches) {
      for (const down of graph.downstream.get(branchId) ?? []) {
        if (!follow.has(down)) {
          frontier.add(down);
          branchSkip.add(down);
        }
      }
    }
    if (seeds.full) {
      for (const t of graph.dag.tasks) frontier.add(t.taskId);
    } else {
      for (const [taskId, state] of seeds.ended) {
        for (const down of graph.downstream.get(taskId) ?? []) {
          const waitingFor = waits.get(down);
          if (waitingFor !== undefined && waitingFor !== taskId && !canDecideEarly(graph.tasks.get(down)!.options.triggerRule, state)) continue;
          frontier.add(down);
        }
      }
    }
    // What ended in this tick was written in this transaction: its state is known without a read.
    const states: StateMap = new Map([...seeds.ended].map(([taskId, state]) => [taskId, { id: null, state }]));
    return { run, seeds, waits, states, decided: new Map(), frontier, branchSkip, whole: seeds.full, assumed: new Set(), written: new Set() };
  });

  // 1. Decide, cascading skips and upstream failures downstream, a frontier at a time. A frontier
  // task whose upstream states are all known is not read: it is decided as if it were `none`, and
  // the decision is written only where it still is (a chain's next task costs one statement, not two).
  // Not a task upstream of another frontier task: that one's decision would rest on an assumption.
  const withUpstream = (w: RunWork) => {
    const { tasks } = w.run.graph;
    if (!w.whole) {
      const feeds = new Set<string>();
      for (const t of w.frontier) for (const u of tasks.get(t)!.upstream) feeds.add(u);
      for (const t of w.frontier) {
        if (w.states.has(t) || feeds.has(t) || !tasks.get(t)!.upstream.every((u) => w.states.has(u))) continue;
        w.assumed.add(t);
        w.states.set(t, { id: null, state: "none" });
      }
    }
    const need = new Set<string>();
    for (const t of w.frontier) {
      if (w.assumed.has(t)) continue;
      need.add(t);
      for (const up of tasks.get(t)!.upstream) need.add(up);
    }
    return need;
  };
  let active = work.filter((w) => w.frontier.size > 0);
  let first = true;
  while (active.length > 0) {
    await loadStates(ctx, active, (w) => (first && w.whole ? null : withUpstream(w)));
    first = false;
    await loadBranchChoices(ctx, active);
    for (const w of active) w.frontier = decideFrontier(w);
    await decideAssumed(ctx, active, now);
    active = active.filter((w) => w.frontier.size > 0);
  }

  // 2. Write the decisions of all runs, one statement per resulting state.
  const byState = new Map<TaskInstanceState, number[]>();
  for (const w of work) {
    for (const [taskId, state] of w.decided) {
      if (w.written.has(taskId)) continue;
      const ids = byState.get(state) ?? [];
      ids.push(w.states.get(taskId)!.id!);
      byState.set(state, ids);
    }
  }
  for (const [state, ids] of byState) {
    for (const part of chunk(ids, 5_000)) {
      if (state === "scheduled") await exec(ctx, SET_SCHEDULED, [now, now, list(ctx, part)]);
      else await exec(ctx, SET_ENDED, [state, now, now, list(ctx, part)]);
    }
  }

  // 3. Which runs are over? Known in memory for whole runs and runs that are surely moving on;
  // one query for the others.
  const unfinished = new Set<number>();
  const ask: number[] = [];
  for (const w of work) {
    const id = w.run.dagRunId;
    if (w.whole) {
      if ([...w.states.values()].some((s) => !FINISHED_STATES.has(s.state))) unfinished.add(id);
    } else if (w.seeds.busy || [...w.decided.values()].includes("scheduled")) {
      unfinished.add(id);
    } else {
      ask.push(id);
    }
  }
  for (const part of chunk(ask, 1_000)) {
    for (const r of await query<{ dag_run_id: number }>(ctx, UNFINISHED_RUNS, [rows(ctx, RUN_COLUMNS, part.map((dag_run_id) => ({ dag_run_id })))])) unfinished.add(Number(r.dag_run_id));
  }
  const ending = work.filter((w) => !unfinished.has(w.run.dagRunId));
  await loadStates(ctx, ending, (w) => w.run.graph.leaves);

  const results = new Map<number, EvaluationResult>();
  for (const w of work) {
    const id = w.run.dagRunId;
    if (unfinished.has(id)) {
      const stuck = w.whole && w.decided.size === 0 ? deadlocked(w) : null;
      if (stuck) {
        await finishRun(ctx.db, id, "failed", now, `deadlock: ${stuck.slice(0, 10).join(", ")} can never run`);
        memory.delete(id);
      }
      results.set(id, { outcome: stuck ? "failed" : null, decided: w.decided, deadlock: stuck });
      continue;
    }
    const failed = w.run.graph.leaves.some((leaf) => {
      const s = w.states.get(leaf)?.state;
      return s === "failed" || s === "upstream_failed";
    });
    const outcome = failed ? "failed" : "success";
    memory.delete(id);
    results.set(id, { outcome: (await finishRun(ctx.db, id, outcome, now, null)) ? outcome : null, decided: w.decided, deadlock: null });
  }
  return results;
}

const BRANCH_CHOICES = statement(
  (d) => `select x.dag_run_id, x.task_id, x.value from ${d.rows(PAIR_COLUMNS)}
    cross join xcom x where x.dag_run_id = v.dag_run_id and x.task_id = v.task_id and x.key = 'return_value'`,
);

/**
 * The choices of branch tasks that succeeded before this evaluation and not in this tick (their
 * end was recorded elsewhere: through the execution API, or before a restart), read from their
 * output for the frontier tasks they decide: a task a branch did not follow is skipped however the
 * evaluation came to it.
 */
async function loadBranchChoices(ctx: SqlContext, work: RunWork[]): Promise<void> {
  const wanted: Array<{ dag_run_id: number; task_id: string }> = [];
  const byRun = new Map<number, RunWork>();
  for (const w of work) {
    const { tasks } = w.run.graph;
    const branches = new Set<string>();
    for (const t of w.frontier) {
      if (w.states.get(t)?.state !== "none") continue;
      for (const u of tasks.get(t)!.upstream) {
        if (tasks.get(u)!.kind === "branch" && w.states.get(u)?.state === "success" && !w.seeds.branches.has(u)) branches.add(u);
      }
    }
    for (const task_id of branches) wanted.push({ dag_run_id: w.run.dagRunId, task_id });
    if (branches.size > 0) byRun.set(w.run.dagRunId, w);
  }
  if (wanted.length === 0) return;
  const choices = new Map<string, string>();
  for (const part of chunk(wanted, 5_000)) {
    for (const r of await query<{ dag_run_id: number; task_id: string; value: string }>(ctx, BRANCH_CHOICES, [rows(ctx, PAIR_COLUMNS, part)])) {
      choices.set(`${Number(r.dag_run_id)}\0${r.task_id}`, r.value);
    }
  }
  for (const { dag_run_id, task_id } of wanted) {
    const w = byRun.get(dag_run_id)!;
    // No output: the branch chose nothing, and every task after it is skipped.
    const follow = new Set(branchFollow(choices.get(`${dag_run_id}\0${task_id}`)));
    w.seeds.branches.set(task_id, follow);
    for (const down of w.run.graph.downstream.get(task_id) ?? []) if (!follow.has(down)) w.branchSkip.add(down);
  }
}

/**
 * Writes the decisions about assumed tasks, each only where its row is still `none`. A task that
 * was not (marked, or decided before) loses its decision and its assumed state: it is read when
 * a later step needs it, and what it cascaded to is decided from what is read.
 */
async function decideAssumed(ctx: SqlContext, work: RunWork[], now: number): Promise<void> {
  const decisions: Array<{ dag_run_id: number; task_id: string; state: TaskInstanceState }> = [];
  for (const w of work) {
    for (const t of w.assumed) {
      const state = w.decided.get(t);
      if (state !== undefined) decisions.push({ dag_run_id: w.run.dagRunId, task_id: t, state });
      else w.states.delete(t); // still waiting: its real state is not known
    }
  }
  const applied = new Map<string, number>();
  for (const part of chunk(decisions, 2_000)) {
    for (const r of await query<{ id: number; dag_run_id: number; task_id: string }>(ctx, SET_DECIDED, [now, now, now, rows(ctx, DECISION_COLUMNS, part)])) {
      applied.set(`${Number(r.dag_run_id)}\0${r.task_id}`, Number(r.id));
    }
  }
  for (const w of work) {
    for (const t of w.assumed) {
      const id = applied.get(`${w.run.dagRunId}\0${t}`);
      const state = w.decided.get(t);
      if (id !== undefined && state !== undefined) {
        w.states.set(t, { id, state });
        w.written.add(t);
      } else {
        w.decided.delete(t);
        w.states.delete(t);
      }
    }
    w.assumed.clear();
  }
}

/** Decides the frontier's tasks from the states known; returns the next frontier. */
function decideFrontier(w: RunWork): Set<string> {
  const { graph } = w.run;
  const { order } = graph;
  const next = new Set<string>();
  for (const taskId of [...w.frontier].sort((a, b) => order.get(a)! - order.get(b)!)) {
    const current = w.states.get(taskId);
    if (!current || current.state !== "none") continue;
    const task = graph.tasks.get(taskId)!;
    let decision: ReturnType<typeof decide>;
    if (w.branchSkip.has(taskId)) {
      decision = "skipped";
    } else {
      decision = decide(task.options.triggerRule, countUpstream(task.upstream.map((u) => w.states.get(u)?.state ?? "none")));
      if (decision === "wait") {
        // Remember the unfinished upstream task that is likely to end last (the latest in order).
        let last: string | undefined;
        for (const u of task.upstream) if (!FINISHED_STATES.has(w.states.get(u)?.state ?? "none") && (last === undefined || order.get(u)! > order.get(last)!)) last = u;
        if (last !== undefined) w.waits.set(taskId, last);
        continue;
      }
    }
    w.waits.delete(taskId);
    const state: TaskInstanceState = decision === "run" ? "scheduled" : decision;
    current.state = state;
    w.decided.set(taskId, state);
    if (state !== "scheduled") for (const down of graph.downstream.get(taskId) ?? []) next.add(down);
  }
  return next;
}

/** Task instances that can never run: nothing is on its way and nothing was decided. */
function deadlocked(w: RunWork): string[] | null {
  const stuck = [...w.states].filter(([, s]) => s.state === "none").map(([t]) => t);
  const moving = [...w.states.values()].some((s) => !FINISHED_STATES.has(s.state) && s.state !== "none");
  return !moving && stuck.length > 0 ? stuck : null;
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
