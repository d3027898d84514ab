/**
 * The in-memory form of a DAG as its body built it. Internal to Updraft: the DAG processor
 * serializes it, the task runner looks tasks up in it. DAG authors see only `Dag` and `TaskRef`.
 */
import type { ParamSpec, ScheduleSpec, TaskContext, TaskOptions, TriggerRule, WeightRule } from "./types.js";

/** How a task's input is built from values and upstream outputs. */
export type InputTemplate =
  | { kind: "value"; value: unknown }
  | { kind: "ref"; taskId: string }
  | { kind: "object"; entries: Record<string, InputTemplate> }
  | { kind: "array"; items: InputTemplate[] };

export type TaskKind = "task" | "bash" | "branch";

/** Task options with every default applied and durations in milliseconds. */
export interface CompiledTaskOptions {
  retries: number;
  retryDelayMs: number;
  retryBackoff: "fixed" | "exponential";
  /** The factor of exponential backoff (2 unless set; missing in versions stored before it existed). */
  retryBackoffMultiplier?: number;
  maxRetryDelayMs: number;
  executionTimeoutMs: number | null;
  triggerRule: TriggerRule;
  pool: string;
  poolSlots: number;
  priorityWeight: number;
  weightRule: WeightRule;
  queue: string;
  owner: string | null;
  doc: string | null;
}

export interface TaskDefinition {
  readonly taskId: string;
  readonly kind: TaskKind;
  readonly group: string | null;
  /** Upstream task ids whose output feeds the input. */
  readonly dataUpstream: Set<string>;
  /** All upstream task ids: data and control edges. */
  readonly upstream: Set<string>;
  readonly input: InputTemplate | undefined;
  readonly options: CompiledTaskOptions;
  /** Extra facts an operator wants shown (e.g. a bash command that is a plain string). */
  readonly display: Record<string, string>;
  readonly run: (input: unknown, ctx: TaskContext) => unknown;
}

export interface GroupDefinition {
  readonly groupId: string;
  readonly parent: string | null;
}

export interface DagDefinition {
  readonly dagId: string;
  readonly options: {
    schedule: ScheduleSpec;
    timezone: string;
    startDate: string | number | null;
    endDate: string | number | null;
    catchup: boolean;
    maxActiveRuns: number;
    maxActiveTasks: number;
    params: Record<string, ParamSpec>;
    tags: string[];
    description: string | null;
    docMd: string | null;
    owner: string;
    access: Record<string, Array<"read" | "edit">> | null;
  };
  /** In insertion order, which is a topological order for data edges. */
  readonly tasks: Map<string, TaskDefinition>;
  readonly groups: Map<string, GroupDefinition>;
  /** Captured at the `dag()` call, to point errors found later at the author's line. */
  readonly callSite: Error;
}

export type { TaskOptions };
