/**
 * What the scheduler remembers between ticks: facts that never change once written (a DAG
 * version's graph, a run's dates, params and conf). Only a cache: all of it can be read again.
 */
import type { Kysely } from "kysely";
import { buildGraph, type DagGraph } from "../dag/graph.js";
import type { SerializedDag } from "../dag/model.js";
import type { Database } from "../store/schema.js";
import { formatDs } from "../timetable/index.js";

export interface RunInfo {
  dagRunId: number;
  dagId: string;
  runId: string;
  runType: string;
  versionId: number;
  bundleHash: string;
  graph: DagGraph;
  logicalDate: number;
  dataIntervalStart: number;
  dataIntervalEnd: number;
  ds: string;
  params: string;
  conf: string;
}

/** A long-lived cache (an API server's) forgets its oldest entries past these sizes. */
const MAX_RUNS = 20_000;
const MAX_VERSIONS = 1_000;

function keep<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}

export class RunCache {
  readonly #graphs = new Map<number, { graph: DagGraph; bundleHash: string }>();
  readonly #runs = new Map<number, RunInfo>();

  async version(db: Kysely<Database>, versionId: number): Promise<{ graph: DagGraph; bundleHash: string }> {
    await this.#loadVersions(db, [versionId]);
    const entry = this.#graphs.get(versionId);
    if (!entry) throw new Error(`DAG version ${versionId} is not stored`);
    return entry;
  }

  /** The versions not cached yet, in one query (a tick that starts 100 runs of 100 DAGs needs 100). */
  async #loadVersions(db: Kysely<Database>, versionIds: Iterable<number>): Promise<void> {
    const missing = [...new Set(versionIds)].filter((id) => !this.#graphs.has(id));
    if (missing.length === 0) return;
    const rows = await db.selectFrom("dag_version").select(["id", "structure", "bundle_hash"]).where("id", "in", missing).execute();
    for (const row of rows) keep(this.#graphs, row.id, { graph: buildGraph(JSON.parse(row.structure) as SerializedDag), bundleHash: row.bundle_hash }, MAX_VERSIONS);
  }

  /** Run facts for these run ids, loading the ones not cached in one query. */
  async runs(db: Kysely<Database>, dagRunIds: Iterable<number>): Promise<Map<number, RunInfo>> {
    const result = new Map<number, RunInfo>();
    const missing: number[] = [];
    for (const id of new Set(dagRunIds)) {
      const hit = this.#runs.get(id);
      if (hit) result.set(id, hit);
      else missing.push(id);
    }
    if (missing.length > 0) {
      const rows = await db
        .selectFrom("dag_run")
        .select(["id", "dag_id", "run_id", "run_type", "dag_version_id", "logical_date", "data_interval_start", "data_interval_end", "params", "conf"])
        .where("id", "in", missing)
        .execute();
      await this.#loadVersions(db, rows.map((r) => r.dag_version_id));
      for (const row of rows) {
        const { graph, bundleHash } = await this.version(db, row.dag_version_id);
        const info: RunInfo = {
          dagRunId: row.id,
          dagId: row.dag_id,
          runId: row.run_id,
          runType: row.run_type,
          versionId: row.dag_version_id,
          bundleHash,
          graph,
          logicalDate: row.logical_date,
          dataIntervalStart: row.data_interval_start,
          dataIntervalEnd: row.data_interval_end,
          ds: formatDs(row.logical_date, graph.dag.timezone),
          params: row.params,
          conf: row.conf,
        };
        keep(this.#runs, row.id, info, MAX_RUNS);
        result.set(row.id, info);
      }
    }
    return result;
  }

  forgetRun(dagRunId: number): void {
    this.#runs.delete(dagRunId);
  }
}
