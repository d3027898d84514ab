/**
 * Trigger rules against Airflow's trigger_rule_dep.py (Airflow 3.1, evaluated with
 * flag_upstream_failed as the scheduler does): expected values are written out by hand from
 * Airflow's code, not derived from the implementation under test.
 *
 * Notation in the tables: S success, F failed, UF upstream_failed, K skipped, N none, R running,
 * U up_for_retry (a failed try with a retry to come: not done).
 */
import { describe, expect, it } from "vitest";
import { TI_STATES, type TaskInstanceState } from "../../src/dag/model.js";
import type { TriggerRule } from "../../src/sdk/types.js";
import { canDecideEarly, countUpstream, decide, type Decision } from "../../src/scheduler/trigger-rules.js";

const ABBR: Record<string, TaskInstanceState> = {
  S: "success",
  F: "failed",
  UF: "upstream_failed",
  K: "skipped",
  N: "none",
  R: "running",
  U: "up_for_retry",
  Q: "queued",
  SC: "scheduled",
};

const RULES: readonly TriggerRule[] = [
  "all_success", "all_failed", "all_done", "all_done_min_one_success", "all_skipped", "one_success",
  "one_failed", "one_done", "none_failed", "none_failed_min_one_success", "none_skipped", "always",
];

const states = (upstream: string): TaskInstanceState[] => (upstream === "" ? [] : upstream.split(",").map((s) => ABBR[s.trim()]!));
const decideFor = (rule: TriggerRule, upstream: TaskInstanceState[]): Decision => decide(rule, countUpstream(upstream));

// [rule, upstream states, expected decision, why]
const TABLE: Array<[TriggerRule, string, Decision, string]> = [
  // all_success: upstream_failed as soon as one failed, skipped as soon as one skipped.
  ["all_success", "S,S", "run", "every upstream succeeded"],
  ["all_success", "S", "run", "a single upstream succeeded"],
  ["all_success", "S,N", "wait", "one upstream has not run"],
  ["all_success", "S,R", "wait", "one upstream is running"],
  ["all_success", "S,U", "wait", "up_for_retry is not done"],
  ["all_success", "S,Q,SC", "wait", "queued and scheduled are not done"],
  ["all_success", "F,N", "upstream_failed", "early: one upstream failed"],
  ["all_success", "UF,N,R", "upstream_failed", "early: upstream_failed counts as failed"],
  ["all_success", "K,N", "skipped", "early: one upstream skipped"],
  ["all_success", "S,K", "skipped", "a skip flows on"],
  ["all_success", "K,F", "upstream_failed", "a failure wins over a skip"],

  // all_failed: skipped as soon as one succeeded or skipped.
  ["all_failed", "F,F", "run", "every upstream failed"],
  ["all_failed", "F,UF", "run", "upstream_failed counts as failed"],
  ["all_failed", "F,N", "wait", "one upstream has not run"],
  ["all_failed", "F,U", "wait", "up_for_retry may still succeed"],
  ["all_failed", "S,N", "skipped", "early: one upstream succeeded"],
  ["all_failed", "K,N", "skipped", "early: one upstream skipped"],
  ["all_failed", "F,S", "skipped", "one upstream succeeded"],

  // all_done: any final state.
  ["all_done", "S,F,UF,K", "run", "every upstream is done"],
  ["all_done", "K,K", "run", "skips are done too"],
  ["all_done", "F,F", "run", "failures are done too"],
  ["all_done", "S,N", "wait", "one upstream has not run"],
  ["all_done", "F,R", "wait", "one upstream is running"],
  ["all_done", "F,U", "wait", "up_for_retry is not done"],

  // all_done_min_one_success (Airflow 3.1): skipped upstream tasks do not count as done.
  ["all_done_min_one_success", "S,F", "run", "all done, one success"],
  ["all_done_min_one_success", "S,UF", "run", "all done, one success"],
  ["all_done_min_one_success", "S,S", "run", "all succeeded"],
  ["all_done_min_one_success", "S,N", "wait", "one upstream has not run"],
  ["all_done_min_one_success", "F,N", "wait", "a success may still come"],
  ["all_done_min_one_success", "F,F", "upstream_failed", "all done, no success"],
  ["all_done_min_one_success", "F,UF", "upstream_failed", "all done, no success"],
  ["all_done_min_one_success", "K,N", "skipped", "early: a skipped upstream skips it"],
  ["all_done_min_one_success", "S,K", "skipped", "a skipped upstream skips it even with a success"],
  ["all_done_min_one_success", "K,K", "skipped", "all skipped"],

  // all_skipped: skipped as soon as one did not skip.
  ["all_skipped", "K,K", "run", "every upstream skipped"],
  ["all_skipped", "K,N", "wait", "one upstream has not run"],
  ["all_skipped", "S,N", "skipped", "early: one upstream succeeded"],
  ["all_skipped", "F,N", "skipped", "early: one upstream failed"],
  ["all_skipped", "UF,N", "skipped", "early: one upstream is upstream_failed"],
  ["all_skipped", "K,S", "skipped", "one upstream succeeded"],

  // one_success: runs as soon as one succeeded; when all are done without one, upstream_failed or (all skipped) skipped.
  ["one_success", "S,N", "run", "early: one succeeded"],
  ["one_success", "S,R,N", "run", "early: one succeeded, no waiting for the rest"],
  ["one_success", "F,S", "run", "one succeeded"],
  ["one_success", "N,N", "wait", "nothing ran yet"],
  ["one_success", "F,N", "wait", "a success may still come"],
  ["one_success", "K,U", "wait", "a retry may still succeed"],
  ["one_success", "K,K", "skipped", "all done, all skipped"],
  ["one_success", "F,K", "upstream_failed", "all done, no success, not all skipped"],
  ["one_success", "F,UF", "upstream_failed", "all done, no success"],

  // one_failed: runs as soon as one failed; skipped when all are done and none failed.
  ["one_failed", "F,N", "run", "early: one failed"],
  ["one_failed", "UF,N", "run", "early: upstream_failed counts as failed"],
  ["one_failed", "S,F", "run", "one failed"],
  ["one_failed", "S,N", "wait", "a failure may still come"],
  ["one_failed", "S,U", "wait", "up_for_retry is not failed yet"],
  ["one_failed", "S,S", "skipped", "all done, none failed"],
  ["one_failed", "S,K", "skipped", "all done, none failed"],
  ["one_failed", "K,K", "skipped", "all done, none failed"],

  // one_done: runs as soon as one succeeded or failed (upstream_failed and skipped do not count).
  ["one_done", "S,N", "run", "early: one succeeded"],
  ["one_done", "F,N", "run", "early: one failed"],
  ["one_done", "K,S", "run", "one succeeded"],
  ["one_done", "K,N", "wait", "a skip is not enough"],
  ["one_done", "UF,N", "wait", "upstream_failed is not enough"],
  ["one_done", "K,K", "skipped", "all done, none succeeded or failed"],
  ["one_done", "UF,K", "skipped", "all done, none succeeded or failed"],

  // none_failed: every upstream done, none failed (skips are fine); upstream_failed as soon as one failed.
  ["none_failed", "S,K", "run", "skips are fine"],
  ["none_failed", "K,K", "run", "all skipped is fine"],
  ["none_failed", "S,S", "run", "all succeeded"],
  ["none_failed", "S,N", "wait", "one upstream has not run"],
  ["none_failed", "K,U", "wait", "up_for_retry is not done"],
  ["none_failed", "F,N", "upstream_failed", "early: one failed"],
  ["none_failed", "UF,N", "upstream_failed", "early: one upstream_failed"],

  // none_failed_min_one_success: as none_failed; skipped when every upstream skipped.
  ["none_failed_min_one_success", "S,K", "run", "one success, rest skipped"],
  ["none_failed_min_one_success", "S,S", "run", "all succeeded"],
  ["none_failed_min_one_success", "K,K", "skipped", "all skipped"],
  ["none_failed_min_one_success", "K", "skipped", "its single upstream skipped"],
  ["none_failed_min_one_success", "K,N", "wait", "a success may still come"],
  ["none_failed_min_one_success", "S,N", "wait", "one upstream has not run"],
  ["none_failed_min_one_success", "F,N", "upstream_failed", "early: one failed"],
  ["none_failed_min_one_success", "UF,K", "upstream_failed", "a failure wins over skips"],

  // none_skipped: every upstream done and none skipped; skipped as soon as one skipped.
  ["none_skipped", "S,F", "run", "failures are fine"],
  ["none_skipped", "S,UF", "run", "upstream_failed is fine"],
  ["none_skipped", "S,N", "wait", "one upstream has not run"],
  ["none_skipped", "F,R", "wait", "one upstream is running"],
  ["none_skipped", "K,N", "skipped", "early: one skipped"],
  ["none_skipped", "S,K", "skipped", "one skipped"],

  // always: at once.
  ["always", "N,N", "run", "regardless of upstream"],
  ["always", "R", "run", "regardless of upstream"],
  ["always", "F,K", "run", "regardless of upstream"],
  ["always", "UF", "run", "regardless of upstream"],
];

describe("decide(rule, countUpstream(states)) follows Airflow's trigger_rule_dep", () => {
  it("the table covers every trigger rule", () => {
    expect(new Set(TABLE.map(([rule]) => rule))).toEqual(new Set(RULES));
  });

  it.each(TABLE)("%s with upstream [%s] → %s (%s)", (rule, upstream, expected) => {
    expect(decideFor(rule, states(upstream))).toBe(expected);
  });

  it.each(RULES)("%s runs a task without upstream tasks", (rule) => {
    expect(decideFor(rule, [])).toBe("run");
  });

  it.each(RULES.filter((r) => r !== "always"))("%s waits while its only upstream task is unfinished", (rule) => {
    for (const s of ["none", "scheduled", "queued", "running", "up_for_retry", "up_for_reschedule", "deferred"] as const) {
      expect(decideFor(rule, [s]), `upstream ${s}`).toBe("wait");
    }
  });
});

describe("countUpstream", () => {
  it("counts the final states and the total", () => {
    expect(countUpstream(["success", "success", "failed", "upstream_failed", "skipped", "removed", "none", "running", "up_for_retry"])).toEqual({
      total: 9,
      success: 2,
      failed: 1,
      upstreamFailed: 1,
      skipped: 1,
      removed: 1,
    });
    expect(countUpstream([])).toEqual({ total: 0, success: 0, failed: 0, upstreamFailed: 0, skipped: 0, removed: 0 });
  });
});

/** Every multiset of at most `size` states drawn from `pool`. */
function multisets(pool: readonly TaskInstanceState[], size: number): TaskInstanceState[][] {
  const out: TaskInstanceState[][] = [[]];
  const grow = (prefix: TaskInstanceState[], from: number) => {
    if (prefix.length === size) return;
    for (let i = from; i < pool.length; i++) {
      const next = [...prefix, pool[i]!];
      out.push(next);
      grow(next, i);
    }
  };
  grow([], 0);
  return out;
}

describe("canDecideEarly is consistent with decide", () => {
  const combos = multisets(TI_STATES, 3);
  const UNFINISHED: TaskInstanceState = "running";

  it("a waiting task always has an unfinished upstream task", () => {
    for (const rule of RULES) {
      for (const base of combos) {
        if (decideFor(rule, base) !== "wait") continue;
        const finished = ["success", "failed", "upstream_failed", "skipped", "removed"];
        expect(base.some((s) => !finished.includes(s)), `${rule} waits on [${base.join(",")}]`).toBe(true);
      }
    }
  });

  it.each(RULES)("%s: an upstream task ending in a state that cannot decide early never ends a wait", (rule) => {
    let checked = 0;
    for (const s of TI_STATES) {
      if (canDecideEarly(rule, s)) continue;
      for (const base of combos) {
        // As the brief puts it: one more upstream task in state s added to a count that waits.
        if (decideFor(rule, base) === "wait") {
          expect(decideFor(rule, [...base, s]), `${rule}: [${base.join(",")}] + ${s}`).toBe("wait");
          checked++;
        }
        // As the scheduler uses it: the task waits for an unfinished upstream task W; another
        // unfinished upstream task ends in state s while W is still unfinished.
        if (decideFor(rule, [...base, UNFINISHED, UNFINISHED]) === "wait") {
          expect(decideFor(rule, [...base, UNFINISHED, s]), `${rule}: [${base.join(",")}, W] with one more ending ${s}`).toBe("wait");
          checked++;
        }
      }
    }
    // Rules whose every state may decide early have nothing to check; the others must have been exercised.
    if (TI_STATES.some((s) => !canDecideEarly(rule, s))) expect(checked).toBeGreaterThan(0);
  });

  it("rules that can end early say so for the states that end them", () => {
    // A sample of early decisions from the table: each must be allowed by canDecideEarly.
    const early: Array<[TriggerRule, TaskInstanceState]> = [
      ["all_success", "failed"],
      ["all_success", "upstream_failed"],
      ["all_success", "skipped"],
      ["all_failed", "success"],
      ["all_failed", "skipped"],
      ["all_done_min_one_success", "skipped"],
      ["all_skipped", "success"],
      ["one_success", "success"],
      ["one_failed", "failed"],
      ["one_done", "success"],
      ["one_done", "failed"],
      ["none_failed", "failed"],
      ["none_failed_min_one_success", "upstream_failed"],
      ["none_skipped", "skipped"],
    ];
    for (const [rule, s] of early) {
      expect(decideFor(rule, [s, "none", "none"]), `${rule} with ${s} and two unfinished`).not.toBe("wait");
      expect(canDecideEarly(rule, s), `canDecideEarly(${rule}, ${s})`).toBe(true);
    }
  });
});
