/**
 * Trigger rules, with Airflow's meaning (airflow/ti_deps/deps/trigger_rule_dep.py, evaluated with
 * flag_upstream_failed as its scheduler does). Given the states of a task's direct upstream task
 * instances, decide whether it runs, waits, or ends as skipped or upstream_failed.
 * docs/SCHEDULING.md has the table.
 */
import type { TriggerRule } from "../sdk/types.js";
import type { TaskInstanceState } from "../dag/model.js";

export interface UpstreamCounts {
  total: number;
  success: number;
  failed: number;
  upstreamFailed: number;
  skipped: number;
  removed: number;
}

export type Decision = "run" | "wait" | "skipped" | "upstream_failed";

export function countUpstream(states: Iterable<TaskInstanceState>): UpstreamCounts {
  const c: UpstreamCounts = { total: 0, success: 0, failed: 0, upstreamFailed: 0, skipped: 0, removed: 0 };
  for (const s of states) {
    c.total++;
    if (s === "success") c.success++;
    else if (s === "failed") c.failed++;
    else if (s === "upstream_failed") c.upstreamFailed++;
    else if (s === "skipped") c.skipped++;
    else if (s === "removed") c.removed++;
  }
  return c;
}

export function decide(rule: TriggerRule, c: UpstreamCounts): Decision {
  if (c.total === 0 || rule === "always") return "run";
  const done = c.success + c.failed + c.upstreamFailed + c.skipped + c.removed;
  const allDone = done >= c.total;
  const anyFailed = c.failed + c.upstreamFailed > 0;
  switch (rule) {
    case "all_success":
      if (anyFailed) return "upstream_failed";
      if (c.skipped > 0) return "skipped";
      return c.success + c.removed >= c.total ? "run" : "wait";
    case "all_failed":
      if (c.success > 0 || c.skipped > 0) return "skipped";
      return allDone ? "run" : "wait";
    case "all_done":
      return allDone ? "run" : "wait";
    case "all_done_min_one_success": {
      // Skipped upstream tasks do not count as done for this rule (Airflow 2.9+).
      if (c.skipped > 0) return "skipped";
      if (!allDone) return "wait";
      return c.success > 0 ? "run" : "upstream_failed";
    }
    case "all_skipped":
      if (c.success > 0 || anyFailed) return "skipped";
      return allDone ? "run" : "wait";
    case "one_success":
      if (c.success > 0) return "run";
      if (!allDone) return "wait";
      return done === c.skipped ? "skipped" : "upstream_failed";
    case "one_failed":
      if (anyFailed) return "run";
      return allDone ? "skipped" : "wait";
    case "one_done":
      if (c.success + c.failed > 0) return "run";
      return allDone ? "skipped" : "wait";
    case "none_failed":
      if (anyFailed) return "upstream_failed";
      return allDone ? "run" : "wait";
    case "none_failed_min_one_success":
      if (anyFailed) return "upstream_failed";
      if (c.skipped >= c.total) return "skipped";
      return allDone ? "run" : "wait";
    case "none_skipped":
      if (c.skipped > 0) return "skipped";
      return allDone ? "run" : "wait";
  }
}

/**
 * Whether an upstream task ending in `state` can let a waiting task decide before all its
 * upstream tasks are done. When it cannot, the task need only be evaluated once its last
 * unfinished upstream task ends (the scheduler's fan-in shortcut).
 */
export function canDecideEarly(rule: TriggerRule, state: TaskInstanceState): boolean {
  switch (rule) {
    case "all_success":
    case "none_failed":
    case "none_failed_min_one_success":
      return state !== "success";
    case "all_done":
      return false;
    case "none_skipped":
    case "all_done_min_one_success":
      return state === "skipped";
    default:
      return true;
  }
}
