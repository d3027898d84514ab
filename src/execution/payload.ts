/**
 * What a runner needs to run a try (its payload), built from the store: the run's facts and the
 * task's options through the run cache, the outputs of its upstream tasks from the XCom table.
 * The scheduler builds payloads for the tries it queues; the execution API for the try a remote
 * worker starts, so both hand a runner the same thing.
 */
import type { DispatchItem } from "../runner/protocol.js";
import type { RunCache } from "../scheduler/run-cache.js";
import { list, query, statement, type SqlContext } from "../store/sql.js";

const INPUTS = statement((d) => `select task_id, value from xcom where dag_run_id = ? and key = 'return_value' and task_id ${d.inList}`);

/** A queued try of a task instance, as the payload needs it. */
export interface QueuedTry {
  tryId: string;
  tiId: number;
  dagRunId: number;
  dagId: string;
  taskId: string;
  /** The number of this try (1 for the first). */
  tryNumber: number;
  maxTries: number;
}

/**
 * The payloads of these tries, in their order. A try whose run or task is no longer stored (the
 * run was deleted meanwhile) is left out.
 */
export async function tryPayloads(ctx: SqlContext, cache: RunCache, tries: readonly QueuedTry[], xcomMaxBytes: number): Promise<DispatchItem[]> {
  if (tries.length === 0) return [];
  const runs = await cache.runs(ctx.db, tries.map((t) => t.dagRunId));
  const wanted = new Map<number, Set<string>>();
  for (const t of tries) {
    const task = runs.get(t.dagRunId)?.graph.tasks.get(t.taskId);
    if (!task || task.dataUpstream.length === 0) continue;
    const set = wanted.get(t.dagRunId) ?? new Set<string>();
    task.dataUpstream.forEach((u) => set.add(u));
    wanted.set(t.dagRunId, set);
  }
  const values = new Map<string, string>();
  for (const [runId, taskIds] of wanted) {
    for (const r of await query<{ task_id: string; value: string }>(ctx, INPUTS, [runId, list(ctx, [...taskIds])])) values.set(`${runId}\0${r.task_id}`, r.value);
  }
  return tries.flatMap((t) => {
    const run = runs.get(t.dagRunId);
    const task = run?.graph.tasks.get(t.taskId);
    if (!run || !task) return [];
    const inputs: Record<string, string> = {};
    for (const u of task.dataUpstream) {
      const v = values.get(`${t.dagRunId}\0${u}`);
      if (v !== undefined) inputs[u] = v;
    }
    return [
      {
        tryId: t.tryId,
        tiId: t.tiId,
        dagRunId: t.dagRunId,
        dagId: t.dagId,
        runId: run.runId,
        taskId: t.taskId,
        tryNumber: t.tryNumber,
        maxTries: t.maxTries,
        bundleHash: run.bundleHash,
        logicalDate: run.logicalDate,
        dataIntervalStart: run.dataIntervalStart,
        dataIntervalEnd: run.dataIntervalEnd,
        ds: run.ds,
        params: run.params,
        conf: run.conf,
        inputs,
        executionTimeoutMs: task.options.executionTimeoutMs,
        xcomMaxBytes,
        queue: task.options.queue,
      },
    ];
  });
}
