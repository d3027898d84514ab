/** Graph facts derived once per DAG version: downstream lists, leaves, weights, relatives. */
import type { SerializedDag, SerializedTask } from "./model.js";

export interface DagGraph {
  readonly dag: SerializedDag;
  readonly tasks: ReadonlyMap<string, SerializedTask>;
  readonly downstream: ReadonlyMap<string, readonly string[]>;
  readonly roots: readonly string[];
  readonly leaves: readonly string[];
  /** Each task's position in the (topological) task list. */
  readonly order: ReadonlyMap<string, number>;
}

export function buildGraph(dag: SerializedDag): DagGraph {
  const tasks = new Map(dag.tasks.map((t) => [t.taskId, t]));
  const downstream = new Map<string, string[]>(dag.tasks.map((t) => [t.taskId, []]));
  for (const t of dag.tasks) for (const up of t.upstream) downstream.get(up)?.push(t.taskId);
  return {
    dag,
    tasks,
    downstream,
    roots: dag.tasks.filter((t) => t.upstream.length === 0).map((t) => t.taskId),
    leaves: dag.tasks.filter((t) => downstream.get(t.taskId)!.length === 0).map((t) => t.taskId),
    order: new Map(dag.tasks.map((t, i) => [t.taskId, i])),
  };
}

/** Every task reachable from `start` along `next` (excluding `start` unless reachable again). */
function reach(start: Iterable<string>, next: (id: string) => Iterable<string>): Set<string> {
  const seen = new Set<string>();
  const stack = [...start];
  while (stack.length) {
    for (const n of next(stack.pop()!)) {
      if (!seen.has(n)) {
        seen.add(n);
        stack.push(n);
      }
    }
  }
  return seen;
}

export function descendants(graph: DagGraph, taskIds: Iterable<string>): Set<string> {
  return reach(taskIds, (id) => graph.downstream.get(id) ?? []);
}

export function ancestors(graph: DagGraph, taskIds: Iterable<string>): Set<string> {
  return reach(taskIds, (id) => graph.tasks.get(id)?.upstream ?? []);
}

/** Topological order (upstream first); input tasks must form a DAG. */
export function topologicalOrder<T extends { taskId: string; upstream: Iterable<string> }>(tasks: T[]): T[] {
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const done = new Set<string>();
  const order: T[] = [];
  const visit = (t: T) => {
    if (done.has(t.taskId)) return;
    done.add(t.taskId);
    for (const up of t.upstream) {
      const u = byId.get(up);
      if (u) visit(u);
    }
    order.push(t);
  };
  tasks.forEach(visit);
  return order;
}

/**
 * Airflow's weight rules: "downstream" adds the weights of all downstream tasks (so long chains
 * start early), "upstream" of all upstream tasks, "absolute" keeps the task's own weight.
 */
export function effectiveWeights(tasks: Array<{ taskId: string; upstream: string[]; priorityWeight: number; weightRule: string }>): Map<string, number> {
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const downstream = new Map<string, string[]>(tasks.map((t) => [t.taskId, []]));
  for (const t of tasks) for (const up of t.upstream) downstream.get(up)?.push(t.taskId);
  const weights = new Map<string, number>();
  for (const t of tasks) {
    let total = t.priorityWeight;
    if (t.weightRule !== "absolute") {
      const relatives = t.weightRule === "upstream"
        ? reach([t.taskId], (id) => byId.get(id)?.upstream ?? [])
        : reach([t.taskId], (id) => downstream.get(id) ?? []);
      for (const r of relatives) total += byId.get(r)!.priorityWeight;
    }
    weights.set(t.taskId, total);
  }
  return weights;
}
