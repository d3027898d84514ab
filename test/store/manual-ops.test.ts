import { describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { clearTaskInstances, markTaskInstances } from "../../src/scheduler/manual-ops.js";
import type { Store } from "../../src/store/connect.js";
import { listTaskInstances, requireDagRun } from "../../src/store/runs.js";
import type { TaskInstanceUpdate } from "../../src/store/schema.js";
import { DIALECTS } from "../helpers/dialects.js";
import { envFactory, etlDag, expectCode, recordFile } from "./fixtures.js";

const T0 = Date.UTC(2026, 0, 1);

/**
 * The "etl" DAG (a -> b -> c, x alone; b has retries 2) after a run that failed:
 * a success (try 1), b failed after its 3 tries, c upstream_failed, x success; the run failed.
 */
async function failedRun(store: Store): Promise<{ runId: string; id: number }> {
  await recordFile(store, "etl.ts", [etlDag()]);
  const run = await triggerDagRun(store, "etl", { runId: "r1" });
  const set = (taskId: string, values: TaskInstanceUpdate) =>
    store.db.updateTable("task_instance").set(values).where("dag_run_id", "=", run.id).where("task_id", "=", taskId).execute();
  await set("a", { state: "success", try_number: 1, try_id: "try-a-1", start_date: T0, end_date: T0 + 10 });
  await set("b", { state: "failed", try_number: 3, try_id: "try-b-3", start_date: T0, end_date: T0 + 20, next_retry_at: null });
  await set("c", { state: "upstream_failed", end_date: T0 + 20 });
  await set("x", { state: "success", try_number: 1, try_id: "try-x-1", start_date: T0, end_date: T0 + 5 });
  await store.db.updateTable("dag_run").set({ state: "failed", start_date: T0, end_date: T0 + 30 }).where("id", "=", run.id).execute();
  return { runId: run.runId, id: run.id };
}

async function states(store: Store, dagRunId: number): Promise<Record<string, string>> {
  return Object.fromEntries((await listTaskInstances(store.db, dagRunId)).map((t) => [t.task_id, t.state]));
}

async function snapshot(store: Store, dagRunId: number) {
  return {
    run: await store.db.selectFrom("dag_run").selectAll().where("id", "=", dagRunId).executeTakeFirstOrThrow(),
    tis: await listTaskInstances(store.db, dagRunId),
  };
}

describe.each(DIALECTS)("clearing and marking task instances (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  it("clears one task: state none, try_id reset, max_tries raised, the run queued again", async () => {
    const env = await makeEnv();
    const run = await failedRun(env.store);
    const affected = await clearTaskInstances(env.store, "etl", run.runId, { taskIds: ["b"] });
    expect(affected).toEqual([{ taskId: "b", state: "failed" }]);

    const tis = Object.fromEntries((await listTaskInstances(env.store.db, run.id)).map((t) => [t.task_id, t]));
    expect(tis.b).toMatchObject({ state: "none", try_id: null, try_number: 3, max_tries: 3 + 2 + 1, end_date: null, next_retry_at: null, queued_at: null });
    expect(tis.a).toMatchObject({ state: "success", try_id: "try-a-1", max_tries: 1 });
    expect(tis.c!.state).toBe("upstream_failed");
    const row = await requireDagRun(env.store.db, "etl", run.runId);
    expect(row.state).toBe("queued");
    expect(row.end_date).toBeNull();
  });

  it("clears with downstream, with upstream, and only the failed ones", async () => {
    const env = await makeEnv();
    const run = await failedRun(env.store);
    const dry = { dryRun: true } as const;
    expect((await clearTaskInstances(env.store, "etl", run.runId, { taskIds: ["b"], downstream: true, ...dry })).map((t) => t.taskId).sort()).toEqual(["b", "c"]);
    expect((await clearTaskInstances(env.store, "etl", run.runId, { taskIds: ["b"], upstream: true, ...dry })).map((t) => t.taskId).sort()).toEqual(["a", "b"]);
    expect((await clearTaskInstances(env.store, "etl", run.runId, { taskIds: ["b"], upstream: true, downstream: true, ...dry })).map((t) => t.taskId).sort()).toEqual(["a", "b", "c"]);
    expect((await clearTaskInstances(env.store, "etl", run.runId, { onlyFailed: true, ...dry })).map((t) => t.taskId).sort()).toEqual(["b", "c"]);
    expect((await clearTaskInstances(env.store, "etl", run.runId, { taskIds: ["a"], onlyFailed: true, ...dry }))).toEqual([]);

    const cleared = await clearTaskInstances(env.store, "etl", run.runId, { taskIds: ["a"], downstream: true });
    expect(cleared.map((t) => t.taskId).sort()).toEqual(["a", "b", "c"]);
    expect(await states(env.store, run.id)).toEqual({ a: "none", b: "none", c: "none", x: "success" });
    const tis = Object.fromEntries((await listTaskInstances(env.store.db, run.id)).map((t) => [t.task_id, t]));
    expect(tis.a!.max_tries).toBe(1 + 0 + 1);
    expect(tis.b!.max_tries).toBe(3 + 2 + 1);
    expect(tis.c!.max_tries).toBe(0 + 0 + 1);
    expect(tis.a!.try_id).toBeNull();
  });

  it("clears every task of the run when no task is named", async () => {
    const env = await makeEnv();
    const run = await failedRun(env.store);
    const all = await clearTaskInstances(env.store, "etl", run.runId);
    expect(all.map((t) => t.taskId).sort()).toEqual(["a", "b", "c", "x"]);
    expect(await states(env.store, run.id)).toEqual({ a: "none", b: "none", c: "none", x: "none" });
    expect((await requireDagRun(env.store.db, "etl", run.runId)).state).toBe("queued");
  });

  it("a dry run reports what would be cleared and changes nothing", async () => {
    const env = await makeEnv();
    const run = await failedRun(env.store);
    const before = await snapshot(env.store, run.id);
    const would = await clearTaskInstances(env.store, "etl", run.runId, { onlyFailed: true, dryRun: true });
    expect(would.map((t) => [t.taskId, t.state]).sort()).toEqual([
      ["b", "failed"],
      ["c", "upstream_failed"],
    ]);
    expect(await snapshot(env.store, run.id)).toEqual(before);
    const wouldMark = await markTaskInstances(env.store, "etl", run.runId, ["b"], "success", { downstream: true, dryRun: true });
    expect(wouldMark.map((t) => t.taskId).sort()).toEqual(["b", "c"]);
    expect(await snapshot(env.store, run.id)).toEqual(before);
  });

  it("marks success with downstream and puts a finished run back to running", async () => {
    const env = await makeEnv();
    const run = await failedRun(env.store);
    const affected = await markTaskInstances(env.store, "etl", run.runId, ["b"], "success", { downstream: true });
    expect(affected.map((t) => [t.taskId, t.state]).sort()).toEqual([
      ["b", "failed"],
      ["c", "upstream_failed"],
    ]);
    expect(await states(env.store, run.id)).toEqual({ a: "success", b: "success", c: "success", x: "success" });
    const c = (await listTaskInstances(env.store.db, run.id)).find((t) => t.task_id === "c")!;
    expect(c.end_date).not.toBe(T0 + 20);
    const row = await requireDagRun(env.store.db, "etl", run.runId);
    expect(row.state).toBe("running");
    expect(row.end_date).toBeNull();

    // Marking what already has that state affects nothing.
    expect(await markTaskInstances(env.store, "etl", run.runId, ["a"], "success")).toEqual([]);
  });

  it("marks failed without downstream; a run that has not finished keeps its state", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const run = await triggerDagRun(env.store, "etl", { runId: "fresh" });
    const affected = await markTaskInstances(env.store, "etl", "fresh", ["x"], "failed");
    expect(affected).toEqual([{ taskId: "x", state: "none" }]);
    expect(await states(env.store, run.id)).toEqual({ a: "none", b: "none", c: "none", x: "failed" });
    expect((await requireDagRun(env.store.db, "etl", "fresh")).state).toBe("queued");

    await markTaskInstances(env.store, "etl", "fresh", ["a"], "failed", { downstream: true });
    expect(await states(env.store, run.id)).toEqual({ a: "failed", b: "failed", c: "failed", x: "failed" });
  });

  it("refuses unknown tasks, unknown runs and states other than success/failed", async () => {
    const env = await makeEnv();
    const run = await failedRun(env.store);
    const before = await snapshot(env.store, run.id);
    const clear = await expectCode(clearTaskInstances(env.store, "etl", run.runId, { taskIds: ["b", "nope"] }), "UPDRAFT_E_TASK_NOT_FOUND");
    expect(clear.message).toContain("'nope'");
    expect(clear.hint).toContain("b");
    await expectCode(markTaskInstances(env.store, "etl", run.runId, ["nope"], "success"), "UPDRAFT_E_TASK_NOT_FOUND");
    await expectCode(clearTaskInstances(env.store, "etl", "no_such_run"), "UPDRAFT_E_DAG_RUN_NOT_FOUND");
    await expectCode(markTaskInstances(env.store, "etl", run.runId, ["a"], "running" as "success"), "UPDRAFT_E_USAGE");
    expect(await snapshot(env.store, run.id)).toEqual(before);
  });
});
