/**
 * Dispatch: ready task instances (state scheduled) become queued tries, best priority first,
 * within every limit: the executor's free slots, the scheduler's parallelism, each DAG's
 * maxActiveTasks and each pool's slots. A few statements per tick, however many tries.
 */
import type { DispatchItem } from "../runner/protocol.js";
import { dialectSql, exec, list, query, statement, type SqlContext } from "../store/sql.js";
import { tryPayloads } from "../execution/payload.js";
import { queueTries } from "../execution/tries.js";
import type { RunCache } from "./run-cache.js";

export interface DispatchScope {
  /**
   * Runs whose ready task instances may start, with their DAG's maxActiveTasks. The scheduler
   * keeps this (see dispatchableRuns), adding and removing the runs it starts and ends itself.
   */
  runs: ReadonlyMap<number, number>;
  /** Slots of each pool (the scheduler keeps them, refreshed on its backstop pass). */
  pools: ReadonlyMap<string, number>;
}


// Runs whose ready task instances may start: running, not test runs, of DAGs that are not paused
// (under `dags test`: its own runs, whatever their DAG's pause). Few rows; the ready query then
// reads one table in priority order.
const RUNS = statement(
  () => `select r.id, d.max_active_tasks from dag_run r join dag d on d.dag_id = r.dag_id
    where r.state = 'running' and r.run_type <> 'test' and d.is_paused = 0`,
);
const RUNS_IN = statement(
  (d) => `select r.id, d.max_active_tasks from dag_run r join dag d on d.dag_id = r.dag_id where r.state = 'running' and r.id ${d.inList}`,
);

/** Runs whose ready task instances may start, with their DAG's maxActiveTasks. */
export async function dispatchableRuns(ctx: SqlContext, onlyRuns: ReadonlySet<number> | null): Promise<Map<number, number>> {
  const found = onlyRuns
    ? await query<{ id: number; max_active_tasks: number }>(ctx, RUNS_IN, [list(ctx, [...onlyRuns])])
    : await query<{ id: number; max_active_tasks: number }>(ctx, RUNS, []);
  return new Map(found.map((r) => [Number(r.id), r.max_active_tasks]));
}
// DAGs at their maxActiveTasks and full pools are left out in SQL, so the LIMIT need not reach
// past task instances that could not start anyway. SQLite is told to walk the ready index (in
// priority order, stopping at the LIMIT) whatever its statistics say.
const ready = (exclude: boolean) =>
  statement(
    (d) => `select id, dag_run_id, dag_id, task_id, try_number, max_tries, pool, pool_slots
    from task_instance${d.indexedBy("ti_ready")}
    where state = 'scheduled' and dag_run_id ${d.inList}${exclude ? ` and not (dag_id ${d.inList}) and not (pool ${d.inList})` : ""}
    order by priority_weight desc, id limit ?${d.claimRows}`,
  );
const READY = ready(true);
/** Nothing is full (the usual case): each list costs SQLite a temporary table per execution. */
const READY_ANY = ready(false);
const ACTIVE = statement(
  () => `select ti.dag_id, d.max_active_tasks, ti.pool, count(*) as n, sum(ti.pool_slots) as slots
    from task_instance ti join dag d on d.dag_id = ti.dag_id where ti.state in ('queued', 'running') group by ti.dag_id, d.max_active_tasks, ti.pool`,
);
const DELETE_XCOMS = statement((d) => `delete from xcom where dag_run_id = ? and task_id ${d.inList}`);

interface ReadyRow {
  id: number;
  dag_run_id: number;
  dag_id: string;
  task_id: string;
  try_number: number;
  max_tries: number;
  pool: string;
  pool_slots: number;
}

export async function dispatchReady(
  ctx: SqlContext,
  cache: RunCache,
  capacity: number,
  scope: DispatchScope,
  jobId: number,
  xcomMaxBytes: number,
  now: number,
  warnPool: (pool: string, taskId: string) => void,
): Promise<DispatchItem[]> {
  const { pools, runs: maxActive } = scope;
  if (capacity <= 0 || maxActive.size === 0) return [];
  const limit = capacity + 8;
  const runIds = list(ctx, [...maxActive.keys()]);
  // Where statements pipeline, the ready rows of the usual case (nothing full) are asked for
  // with the counts, in the same round trip.
  const readyAny = dialectSql(ctx).pipelines ? query<ReadyRow>(ctx, READY_ANY, [runIds, limit]) : null;
  readyAny?.catch(() => {}); // awaited below
  const active = await query<{ dag_id: string; max_active_tasks: number; pool: string; n: number; slots: number }>(ctx, ACTIVE, []);
  const dagActive = new Map<string, number>();
  const poolUsed = new Map<string, number>();
  const fullDags = new Set<string>();
  for (const a of active) {
    const n = (dagActive.get(a.dag_id) ?? 0) + Number(a.n);
    dagActive.set(a.dag_id, n);
    if (n >= a.max_active_tasks) fullDags.add(a.dag_id);
    poolUsed.set(a.pool, (poolUsed.get(a.pool) ?? 0) + Number(a.slots));
  }
  const fullPools = [...poolUsed].filter(([pool, used]) => used >= (pools.get(pool) ?? Infinity)).map(([pool]) => pool);
  const nothingFull = fullDags.size === 0 && fullPools.length === 0;
  const asked = readyAny ? await readyAny : null; // awaited either way: its failure is the tick's
  const found = nothingFull
    ? (asked ?? (await query<ReadyRow>(ctx, READY_ANY, [runIds, limit])))
    : await query<ReadyRow>(ctx, READY, [runIds, list(ctx, [...fullDags]), list(ctx, fullPools), limit]);
  const ready = found.map((r) => ({
    ...r,
    id: Number(r.id),
    dag_run_id: Number(r.dag_run_id),
  }));
  if (ready.length === 0) return [];

  const chosen: ReadyRow[] = [];
  for (const ti of ready) {
    if (chosen.length >= capacity) break;
    const slots = pools.get(ti.pool);
    if (slots === undefined) {
      warnPool(ti.pool, `${ti.dag_id}.${ti.task_id}`);
      continue;
    }
    if ((dagActive.get(ti.dag_id) ?? 0) >= maxActive.get(ti.dag_run_id)!) continue;
    if ((poolUsed.get(ti.pool) ?? 0) + ti.pool_slots > slots) continue;
    dagActive.set(ti.dag_id, (dagActive.get(ti.dag_id) ?? 0) + 1);
    poolUsed.set(ti.pool, (poolUsed.get(ti.pool) ?? 0) + ti.pool_slots);
    chosen.push(ti);
  }
  if (chosen.length === 0) return [];

  const tryIds = await queueTries(ctx, chosen.map((c) => ({ id: c.id, tryNumber: c.try_number })), jobId, now);

  // A task that runs again starts without the XComs of its earlier tries.
  const rerun = chosen.filter((c) => c.try_number > 0);
  for (const [runId, tis] of groupBy(rerun, (c) => c.dag_run_id)) await exec(ctx, DELETE_XCOMS, [runId, list(ctx, tis.map((t) => t.task_id))]);
  const tries = chosen.map((c) => ({ tryId: tryIds.get(c.id)!, tiId: c.id, dagRunId: c.dag_run_id, dagId: c.dag_id, taskId: c.task_id, tryNumber: c.try_number + 1, maxTries: c.max_tries }));
  return tryPayloads(ctx, cache, tries, xcomMaxBytes);
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
