/**
 * Updraft's SDK: what DAG files import from "updraft".
 *
 * @example
 *   import { dag, task, bash } from "updraft";
 *   const hello = task({ id: "hello", run: (_: void, ctx) => `hello ${ctx.ds}` });
 *   export default dag({ id: "hello", schedule: "@daily", startDate: "2026-01-01" }, () => { hello(); });
 */
export { dag, group, chain } from "./dag.js";
export { task, branch } from "./task.js";
export type { BranchChoice } from "./task.js";
export { bash } from "./bash.js";
export type { BashOptions } from "./bash.js";
export { NonRetryableError, SkipError } from "./errors.js";
export type {
  AnyTaskRef,
  Connection,
  Dag,
  DagOptions,
  Input,
  ParamSpec,
  ParamType,
  ScheduleSpec,
  TaskCallOptions,
  TaskContext,
  TaskFunction,
  TaskLogger,
  TaskOptions,
  TaskRef,
  TaskRun,
  TaskSpec,
  TriggerRule,
  WeightRule,
} from "./types.js";
export type { Duration } from "../util/duration.js";
