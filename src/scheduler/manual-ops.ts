/**
 * State changes people ask for: clearing task instances (they run again in the same run) and
 * marking them success or failed. The scheduler owning a try that is cleared or marked stops it
 * on its next pass; the run goes back to queued (clear) or running (mark) so the scheduler
 * evaluates it again.
 */
import type { Kysely } from "kysely";
import type { SerializedDag, TaskInstanceState } from "../dag/model.js";
import { ancestors, buildGraph, descendants } from "../dag/graph.js";
import { UpdraftError } from "../errors/index.js";
import type { Store } from "../store/connect.js";
import { getDagVersion } from "../store/dags.js";
import { requireDagRun } from "../store/runs.js";
import { appendEvents } from "../store/events.js";
import type { Database, DagRunRow } from "../store/schema.js";

export interface ClearOptions {
  taskIds?: string[];
  downstream?: boolean;
  upstream?: boolean;
  /** Only task instances that failed or are upstream_failed. */
  onlyFailed?: boolean;
  dryRun?: boolean;
}

export interface AffectedTask {
  taskId: string;
  state: string;
}

async function graphOf(db: Kysely<Database>, run: DagRunRow) {
  const version = await getDagVersion(db, run.dag_version_id);
  return buildGraph(JSON.parse(version.structure) as SerializedDag);
}

function selectTasks(graph: ReturnType<typeof buildGraph>, taskIds: string[] | undefined, downstream: boolean, upstream: boolean): Set<string> {
  const base = taskIds && taskIds.length > 0 ? taskIds : [...graph.tasks.keys()];
  for (const id of base) {
    if (!graph.tasks.has(id)) {
      throw new UpdraftError("UPDRAFT_E_TASK_NOT_FOUND", `DAG '${graph.dag.dagId}' has no task '${id}'`, {
        hint: `its tasks: ${[...graph.tasks.keys()].slice(0, 30).join(", ")}`,
      });
    }
  }
  const selected = new Set(base);
  if (downstream) descendants(graph, base).forEach((t) => selected.add(t));
  if (upstream) ancestors(graph, base).forEach((t) => selected.add(t));
  return selected;
}

/** Clears task instances of one run; returns what was (or, with dryRun, would be) cleared. */
export async function clearTaskInstances(store: Store, dagId: string, runId: string, options: ClearOptions = {}): Promise<AffectedTask[]> {
  const run = await requireDagRun(store.db, dagId, runId);
  const graph = await graphOf(store.db, run);
  const selected = selectTasks(graph, options.taskIds, options.downstream ?? false, options.upstream ?? false);
  const now = Date.now();
  const affected = await store.transaction(async (trx) => {
    const rows = await trx
      .selectFrom("task_instance")
      .select(["id", "task_id", "state", "try_number"])
      .where("dag_run_id", "=", run.id)
      .where("task_id", "in", [...selected])
      .$if(options.onlyFailed ?? false, (q) => q.where("state", "in", ["failed", "upstream_failed"]))
      .orderBy("id")
      .execute();
    if (options.dryRun || rows.length === 0) return rows;
    for (const row of rows) {
      const retries = graph.tasks.get(row.task_id)!.options.retries;
      await trx
        .updateTable("task_instance")
        .set({ state: "none", try_id: null, job_id: null, max_tries: row.try_number + retries + 1, next_retry_at: null, scheduled_at: null, queued_at: null, end_date: null, updated_at: now })
        .where("id", "=", row.id)
        .execute();
    }
    await trx.updateTable("dag_run").set({ state: "queued", queued_at: now, end_date: null, updated_at: now }).where("id", "=", run.id).execute();
    await appendEvents(
      { db: trx, dialect: store.dialect },
      [
        ...rows.map((r) => ({ kind: "ti-state" as const, dag_id: dagId, run_id: runId, task_id: r.task_id, state: "none" })),
        { kind: "run-state" as const, dag_id: dagId, run_id: runId, state: "queued" },
      ],
      now,
      store.eventChannel,
    );
    return rows;
  });
  if (!options.dryRun && affected.length > 0) await store.notify();
  return affected.map((r) => ({ taskId: r.task_id, state: r.state }));
}

/** Sets task instances (optionally with their downstream) to success or failed. */
export async function markTaskInstances(store: Store, dagId: string, runId: string, taskIds: string[], state: "success" | "failed", options: { downstream?: boolean; dryRun?: boolean } = {}): Promise<AffectedTask[]> {
  if (state !== "success" && state !== "failed") {
    throw new UpdraftError("UPDRAFT_E_USAGE", `cannot mark a task instance '${String(state)}'`, { hint: "mark it success or failed, or clear it to run it again" });
  }
  const run = await requireDagRun(store.db, dagId, runId);
  const graph = await graphOf(store.db, run);
  const selected = selectTasks(graph, taskIds, options.downstream ?? false, false);
  const now = Date.now();
  const affected = await store.transaction(async (trx) => {
    const rows = await trx
      .selectFrom("task_instance")
      .select(["id", "task_id", "state"])
      .where("dag_run_id", "=", run.id)
      .where("task_id", "in", [...selected])
      .where("state", "<>", state)
      .orderBy("id")
      .execute();
    if (options.dryRun || rows.length === 0) return rows;
    await trx
      .updateTable("task_instance")
      .set({ state, end_date: now, next_retry_at: null, updated_at: now })
      .where("id", "in", rows.map((r) => r.id))
      .execute();
    const reopened = await trx.updateTable("dag_run").set({ state: "running", end_date: null, updated_at: now }).where("id", "=", run.id).where("state", "in", ["success", "failed"]).executeTakeFirst();
    await appendEvents(
      { db: trx, dialect: store.dialect },
      [
        ...rows.map((r) => ({ kind: "ti-state" as const, dag_id: dagId, run_id: runId, task_id: r.task_id, state })),
        ...(Number(reopened.numUpdatedRows) > 0 ? [{ kind: "run-state" as const, dag_id: dagId, run_id: runId, state: "running" }] : []),
      ],
      now,
      store.eventChannel,
    );
    return rows;
  });
  if (!options.dryRun && affected.length > 0) await store.notify();
  return affected.map((r) => ({ taskId: r.task_id, state: r.state as TaskInstanceState }));
}
