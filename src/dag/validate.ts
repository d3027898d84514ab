/**
 * Checks a serialized DAG. The DAG processor's subprocess runs author code, so its output is
 * untrusted: the parent validates every DAG it receives with this before storing it.
 */
import { isUpdraftError } from "../errors/index.js";
import { TRIGGER_RULES } from "../sdk/options.js";
import { restoreTimetable } from "../timetable/index.js";
import { type SerializedDag, SERIALIZED_FORMAT } from "./model.js";
import { checkParamSpecs } from "./params.js";

const DAG_ID_RE = /^(?!\.+$)[A-Za-z0-9_.-]{1,250}$/;
const TASK_ID_RE = /^[A-Za-z0-9_-]{1,200}(\.[A-Za-z0-9_-]{1,200})*$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number) => typeof v === "number" && Number.isInteger(v) && v >= min;

/** Every problem found, as sentences; empty when the DAG is valid. */
export function validateDag(value: unknown): string[] {
  if (!isObject(value)) return ["the DAG is not an object"];
  const dag = value as unknown as SerializedDag;
  const problems: string[] = [];
  if (dag.format !== SERIALIZED_FORMAT) problems.push(`unknown serialization format ${JSON.stringify(dag.format)}`);
  if (typeof dag.dagId !== "string" || !DAG_ID_RE.test(dag.dagId)) problems.push(`DAG id ${JSON.stringify(dag.dagId)} is not valid`);
  if (typeof dag.fileloc !== "string") problems.push("fileloc is missing");
  try {
    const timetable = restoreTimetable(dag.schedule, dag.timezone);
    if (JSON.stringify(timetable.normalized) !== JSON.stringify(dag.schedule)) problems.push("the schedule is not in its normalized form");
  } catch (error) {
    problems.push(isUpdraftError(error) ? error.message : String(error));
  }
  for (const key of ["startDate", "endDate"] as const) {
    if (dag[key] !== null && !isInt(dag[key], -8.64e15)) problems.push(`${key} is not a date`);
  }
  if (dag.startDate !== null && dag.endDate !== null && dag.endDate < dag.startDate) problems.push("endDate is before startDate");
  if (typeof dag.catchup !== "boolean") problems.push("catchup must be true or false");
  if (!isInt(dag.maxActiveRuns, 1)) problems.push("maxActiveRuns must be an integer ≥ 1");
  if (!isInt(dag.maxActiveTasks, 1)) problems.push("maxActiveTasks must be an integer ≥ 1");
  if (!Array.isArray(dag.tags) || dag.tags.some((t) => typeof t !== "string")) problems.push("tags must be strings");
  if (typeof dag.owner !== "string") problems.push("owner must be a string");
  if (dag.access !== null && (!isObject(dag.access) || Object.values(dag.access).some((r) => !Array.isArray(r) || r.some((x) => x !== "read" && x !== "edit")))) {
    problems.push('access must map role names to lists of "read" and "edit"');
  }
  if (!isObject(dag.params)) problems.push("params must be an object");
  else problems.push(...checkParamSpecs(dag.params, dag.schedule !== null));
  if (!Array.isArray(dag.tasks)) return [...problems, "tasks must be an array"];
  if (!Array.isArray(dag.groups)) problems.push("groups must be an array");

  const seen = new Set<string>();
  for (const task of dag.tasks) {
    if (!isObject(task) || typeof task.taskId !== "string" || !TASK_ID_RE.test(task.taskId)) {
      problems.push(`task id ${JSON.stringify(isObject(task) ? task.taskId : task)} is not valid`);
      continue;
    }
    const where = `task '${task.taskId}'`;
    if (seen.has(task.taskId)) problems.push(`${where} is defined twice`);
    if (!Array.isArray(task.upstream) || !Array.isArray(task.dataUpstream)) {
      problems.push(`${where}: upstream lists are missing`);
      continue;
    }
    for (const up of task.upstream) {
      // Tasks are in topological order, so an upstream must have been seen already.
      if (!seen.has(up)) problems.push(`${where} depends on '${up}', which is ${dag.tasks.some((t) => t.taskId === up) ? "not before it (a cycle)" : "not a task of this DAG"}`);
    }
    for (const up of task.dataUpstream) if (!task.upstream.includes(up)) problems.push(`${where}: data upstream '${up}' is not an upstream`);
    if (!["task", "bash", "branch"].includes(task.kind)) problems.push(`${where}: unknown kind '${task.kind}'`);
    const o = task.options;
    if (!isObject(o)) {
      problems.push(`${where}: options are missing`);
    } else {
      if (!TRIGGER_RULES.includes(o.triggerRule)) problems.push(`${where}: unknown trigger rule '${o.triggerRule}'`);
      if (!isInt(o.retries, 0)) problems.push(`${where}: retries must be an integer ≥ 0`);
      if (!isInt(o.poolSlots, 1)) problems.push(`${where}: poolSlots must be an integer ≥ 1`);
      if (!isInt(o.retryDelayMs, 0) || !isInt(o.maxRetryDelayMs, 0)) problems.push(`${where}: retry delays must be durations`);
      if (o.retryBackoff !== "fixed" && o.retryBackoff !== "exponential") problems.push(`${where}: retryBackoff must be "fixed" or "exponential"`);
      const factor = o.retryBackoffMultiplier;
      if (factor !== undefined && !(typeof factor === "number" && factor > 0 && factor <= 100)) problems.push(`${where}: retryBackoffMultiplier must be a number above 0, at most 100`);
      if (o.executionTimeoutMs !== null && !isInt(o.executionTimeoutMs, 1)) problems.push(`${where}: executionTimeout must be a positive duration`);
      if (typeof o.pool !== "string" || typeof o.queue !== "string") problems.push(`${where}: pool and queue must be strings`);
    }
    if (typeof task.weight !== "number" || !Number.isFinite(task.weight)) problems.push(`${where}: weight must be a number`);
    seen.add(task.taskId);
  }
  return problems;
}
