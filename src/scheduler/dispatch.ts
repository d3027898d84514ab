/**
 * Dispatch: ready task instances (state scheduled) become queued tries, best priority first,
 * within every limit: the executor's free slots, the scheduler's parallelism, each DAG's
 * maxActiveTasks and each pool's slots. One select, one update and one input read per tick.
 */
import { randomBytes } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { DispatchItem } from "../runner/protocol.js";
import { chunk, MAX_PARAMS } from "../store/batch.js";
import type { Database } from "../store/schema.js";
import type { InflightTry } from "./apply-results.js";
import type { RunCache } from "./run-cache.js";

export interface DispatchScope {
  /** Only runs with these ids (`dags test`), whatever their type and their DAG's pause. */
  onlyRuns: ReadonlySet<number> | null;
  forUpdate: boolean;
}

export interface Dispatched {
  item: DispatchItem;
  inflight: InflightTry;
}

export async function dispatchReady(
  trx: Kysely<Database>,
  cache: RunCache,
  capacity: number,
  scope: DispatchScope,
  jobId: number,
  xcomMaxBytes: number,
  now: number,
  warnPool: (pool: string, taskId: string) => void,
): Promise<Dispatched[]> {
  if (capacity <= 0) return [];
  let query = trx
    .selectFrom("task_instance as ti")
    .innerJoin("dag_run as r", "r.id", "ti.dag_run_id")
    .innerJoin("dag as d", "d.dag_id", "ti.dag_id")
    .select(["ti.id", "ti.dag_run_id", "ti.dag_id", "ti.task_id", "ti.try_number", "ti.max_tries", "ti.pool", "ti.pool_slots", "d.max_active_tasks"])
    .where("ti.state", "=", "scheduled")
    .where("r.state", "=", "running");
  query = scope.onlyRuns
    ? query.where("ti.dag_run_id", "in", [...scope.onlyRuns])
    : query.where("r.run_type", "<>", "test").where("d.is_paused", "=", 0);
  query = query.orderBy("ti.priority_weight", "desc").orderBy("ti.id").limit(capacity * 4 + 16);
  if (scope.forUpdate) query = query.forUpdate(["ti"]).skipLocked();
  const ready = await query.execute();
  if (ready.length === 0) return [];

  const active = await trx
    .selectFrom("task_instance")
    .select(["dag_id", "pool", (eb) => eb.fn.countAll<number>().as("n"), (eb) => eb.fn.sum<number>("pool_slots").as("slots")])
    .where("state", "in", ["queued", "running"])
    .groupBy(["dag_id", "pool"])
    .execute();
  const dagActive = new Map<string, number>();
  const poolUsed = new Map<string, number>();
  for (const a of active) {
    dagActive.set(a.dag_id, (dagActive.get(a.dag_id) ?? 0) + Number(a.n));
    poolUsed.set(a.pool, (poolUsed.get(a.pool) ?? 0) + Number(a.slots));
  }
  const pools = new Map((await trx.selectFrom("pool").select(["name", "slots"]).execute()).map((p) => [p.name, p.slots]));

  const chosen: typeof ready = [];
  for (const ti of ready) {
    if (chosen.length >= capacity) break;
    const slots = pools.get(ti.pool);
    if (slots === undefined) {
      warnPool(ti.pool, `${ti.dag_id}.${ti.task_id}`);
      continue;
    }
    if ((dagActive.get(ti.dag_id) ?? 0) >= ti.max_active_tasks) continue;
    if ((poolUsed.get(ti.pool) ?? 0) + ti.pool_slots > slots) continue;
    dagActive.set(ti.dag_id, (dagActive.get(ti.dag_id) ?? 0) + 1);
    poolUsed.set(ti.pool, (poolUsed.get(ti.pool) ?? 0) + ti.pool_slots);
    chosen.push(ti);
  }
  if (chosen.length === 0) return [];

  // A try id is unique per try: a random prefix for this batch, the task instance id and the try number.
  const prefix = randomBytes(6).toString("hex");
  for (const part of chunk(chosen.map((c) => c.id), MAX_PARAMS)) {
    await trx
      .updateTable("task_instance")
      .set({
        state: "queued",
        try_number: sql`try_number + 1`,
        try_id: sql`${prefix} || '.' || id || '.' || (try_number + 1)`,
        queued_at: now,
        job_id: jobId,
        start_date: null,
        end_date: null,
        duration_ms: null,
        next_retry_at: null,
        hostname: null,
        pid: null,
        updated_at: now,
      })
      .where("id", "in", part)
      .where("state", "=", "scheduled")
      .execute();
  }

  const runs = await cache.runs(trx, chosen.map((c) => c.dag_run_id));
  // A task that runs again starts without the XComs of its earlier tries.
  const rerun = chosen.filter((c) => c.try_number > 0);
  for (const [runId, tis] of groupBy(rerun, (c) => c.dag_run_id)) {
    await trx.deleteFrom("xcom").where("dag_run_id", "=", runId).where("task_id", "in", tis.map((t) => t.task_id)).execute();
  }
  const wanted = new Map<number, Set<string>>();
  for (const c of chosen) {
    const task = runs.get(c.dag_run_id)!.graph.tasks.get(c.task_id)!;
    if (task.dataUpstream.length === 0) continue;
    const set = wanted.get(c.dag_run_id) ?? new Set<string>();
    task.dataUpstream.forEach((u) => set.add(u));
    wanted.set(c.dag_run_id, set);
  }
  const values = new Map<string, string>();
  for (const [runId, taskIds] of wanted) {
    for (const part of chunk([...taskIds], MAX_PARAMS)) {
      const rows = await trx
        .selectFrom("xcom")
        .select(["task_id", "value"])
        .where("dag_run_id", "=", runId)
        .where("key", "=", "return_value")
        .where("task_id", "in", part)
        .execute();
      for (const r of rows) values.set(`${runId}\0${r.task_id}`, r.value);
    }
  }

  return chosen.map((c) => {
    const run = runs.get(c.dag_run_id)!;
    const task = run.graph.tasks.get(c.task_id)!;
    const tryNumber = c.try_number + 1;
    const tryId = `${prefix}.${c.id}.${tryNumber}`;
    const inputs: Record<string, string> = {};
    for (const u of task.dataUpstream) {
      const v = values.get(`${c.dag_run_id}\0${u}`);
      if (v !== undefined) inputs[u] = v;
    }
    return {
      item: {
        tryId,
        tiId: c.id,
        dagId: c.dag_id,
        runId: run.runId,
        taskId: c.task_id,
        tryNumber,
        maxTries: c.max_tries,
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
      },
      inflight: { tryId, tiId: c.id, dagRunId: c.dag_run_id, dagId: c.dag_id, taskId: c.task_id, tryNumber, kind: task.kind, options: task.options },
    };
  });
}

function groupBy<T, K>(items: T[], key: (item: T) => K): Map<K, T[]> {
  const map = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}
