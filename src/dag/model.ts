/**
 * The serialized form of a DAG: what the DAG processor stores in a DAG version and what the
 * scheduler, the CLI and the API read. Plain JSON, versioned by `format`.
 */
import type { CompiledTaskOptions, TaskKind } from "../sdk/definition.js";
import type { ParamSpec } from "../sdk/types.js";

export const SERIALIZED_FORMAT = 1;

export interface SerializedTask {
  taskId: string;
  kind: TaskKind;
  group: string | null;
  /** All direct upstream task ids, sorted. */
  upstream: string[];
  /** Upstream task ids whose output is part of the input, sorted. */
  dataUpstream: string[];
  options: CompiledTaskOptions;
  /** The priority weight after the weight rule (Airflow's priority_weight_total). */
  weight: number;
  display: Record<string, string>;
}

export interface SerializedDag {
  format: typeof SERIALIZED_FORMAT;
  dagId: string;
  /** Path of the DAG file relative to the DAGs folder, with "/" separators. */
  fileloc: string;
  /** Normalized: a cron string, "@once", { every: ms } or null. */
  schedule: string | { every: number } | null;
  scheduleDescription: string;
  timezone: string;
  startDate: number | null;
  endDate: number | null;
  catchup: boolean;
  maxActiveRuns: number;
  maxActiveTasks: number;
  params: Record<string, ParamSpec>;
  tags: string[];
  description: string | null;
  docMd: string | null;
  owner: string;
  /** Per-DAG access: role name → rights ("read", "edit"); null when the DAG names none. */
  access: Record<string, Array<"read" | "edit">> | null;
  /** In a topological order. */
  tasks: SerializedTask[];
  groups: Array<{ groupId: string; parent: string | null }>;
}

export type TaskInstanceState =
  | "none"
  | "scheduled"
  | "queued"
  | "running"
  | "success"
  | "failed"
  | "up_for_retry"
  | "up_for_reschedule"
  | "skipped"
  | "upstream_failed"
  | "deferred"
  | "removed";

export type DagRunState = "queued" | "running" | "success" | "failed";
export type RunType = "scheduled" | "manual" | "backfill" | "test";
export const DAG_RUN_STATES: readonly DagRunState[] = ["queued", "running", "success", "failed"];
export const RUN_TYPES: readonly RunType[] = ["scheduled", "manual", "backfill", "test"];

export const TI_STATES: readonly TaskInstanceState[] = [
  "none", "scheduled", "queued", "running", "success", "failed", "up_for_retry", "up_for_reschedule",
  "skipped", "upstream_failed", "deferred", "removed",
];
/** States after which a task instance will not change unless someone clears or marks it. */
export const FINISHED_STATES: ReadonlySet<TaskInstanceState> = new Set(["success", "failed", "skipped", "upstream_failed", "removed"]);
/** States in which a try is on its way or waiting for its next try. */
export const UNFINISHED_STATES: readonly TaskInstanceState[] = TI_STATES.filter((s) => !FINISHED_STATES.has(s));
