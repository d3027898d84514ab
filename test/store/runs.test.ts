import { describe, expect, it } from "vitest";
import type { SerializedDag } from "../../src/dag/model.js";
import { insertDagRun, triggerDagRun, type NewRun } from "../../src/scheduler/create-run.js";
import type { Store } from "../../src/store/connect.js";
import { latestStructure, requireDag } from "../../src/store/dags.js";
import { listDagRuns, listTaskInstances, requireDagRun, requireTaskInstance } from "../../src/store/runs.js";
import { DIALECTS } from "../helpers/dialects.js";
import { countRows, envFactory, etlDag, expectCode, recordFile, simpleDag } from "./fixtures.js";

const DAY = 86_400_000;

async function latest(store: Store, dagId: string): Promise<{ versionId: number; structure: SerializedDag }> {
  return latestStructure(store.db, await requireDag(store.db, dagId));
}

function scheduledRun(dagId: string, versionId: number, structure: SerializedDag, logicalDate: number): NewRun {
  return {
    dagId,
    versionId,
    structure,
    runType: "scheduled",
    runId: `scheduled__${new Date(logicalDate).toISOString()}`,
    logicalDate,
    interval: { start: logicalDate, end: logicalDate + DAY },
    runAfter: logicalDate + DAY,
    conf: {},
    note: null,
    now: Date.now(),
  };
}

describe.each(DIALECTS)("creating runs (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  it("a manual run is queued with one task instance per task in state none", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const before = Date.now();
    const run = await triggerDagRun(env.store, "etl", { note: "by hand" });
    expect(run.dagId).toBe("etl");
    expect(run.paused).toBe(false);
    expect(run.logicalDate).toBeGreaterThanOrEqual(before);
    expect(run.runId).toMatch(/^manual__\d{4}-\d\d-\d\dT/);

    const row = await requireDagRun(env.store.db, "etl", run.runId);
    const { versionId } = await latest(env.store, "etl");
    expect(row).toMatchObject({
      id: run.id,
      run_type: "manual",
      state: "queued",
      logical_date: run.logicalDate,
      dag_version_id: versionId,
      note: "by hand",
      conf: "{}",
      start_date: null,
      end_date: null,
    });
    expect(JSON.parse(row.params)).toEqual({ region: "eu", n: 1 });
    expect(row.queued_at).not.toBeNull();

    const tis = await listTaskInstances(env.store.db, run.id);
    const byTask = Object.fromEntries(tis.map((t) => [t.task_id, t]));
    expect(Object.keys(byTask).sort()).toEqual(["a", "b", "c", "x"]);
    for (const ti of tis) {
      expect(ti).toMatchObject({ dag_run_id: run.id, dag_id: "etl", state: "none", try_number: 0, try_id: null, operator: "task", queue: "default" });
    }
    expect(byTask.b).toMatchObject({ max_tries: 3, pool: "etl", pool_slots: 2 });
    expect(byTask.a).toMatchObject({ max_tries: 1, pool: "default_pool", pool_slots: 1 });
    // Weight rule "downstream": a task's own weight plus all of its descendants'.
    expect(Object.fromEntries(tis.map((t) => [t.task_id, t.priority_weight]))).toEqual({ a: 3, b: 2, c: 1, x: 1 });
  });

  it("takes an explicit logical date (in the DAG's timezone) and run id", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const dated = await triggerDagRun(env.store, "etl", { logicalDate: "2026-01-05" });
    expect(dated.logicalDate).toBe(Date.UTC(2026, 0, 5));
    expect(dated.runId).toBe("manual__2026-01-05T00:00:00+00:00");

    const named = await triggerDagRun(env.store, "etl", { runId: "my_run.1", logicalDate: Date.UTC(2026, 0, 6, 7) });
    expect(named.runId).toBe("my_run.1");
    expect(await requireDagRun(env.store.db, "etl", "my_run.1")).toMatchObject({ logical_date: Date.UTC(2026, 0, 6, 7), run_type: "manual" });

    await recordFile(env.store, "berlin.ts", [simpleDag("berlin.ts", "berlin", ["t"], { timezone: "Europe/Berlin" })]);
    const berlin = await triggerDagRun(env.store, "berlin", { logicalDate: "2026-01-05T03:00" });
    expect(berlin.logicalDate).toBe(Date.UTC(2026, 0, 5, 2));

    await expectCode(triggerDagRun(env.store, "etl", { runId: "has space" }), "UPDRAFT_E_INVALID_ID");
  });

  it("refuses a second run with the same run id and changes nothing", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const first = await triggerDagRun(env.store, "etl", { runId: "once", conf: { n: 2 } });
    const runsBefore = await env.store.db.selectFrom("dag_run").selectAll().execute();
    const tisBefore = await env.store.db.selectFrom("task_instance").selectAll().orderBy("id").execute();

    const error = await expectCode(triggerDagRun(env.store, "etl", { runId: "once", conf: { n: 3 } }), "UPDRAFT_E_DAG_RUN_EXISTS");
    expect(error.message).toContain("'once'");
    expect(await env.store.db.selectFrom("dag_run").selectAll().execute()).toEqual(runsBefore);
    expect(await env.store.db.selectFrom("task_instance").selectAll().orderBy("id").execute()).toEqual(tisBefore);
    expect(JSON.parse((await requireDagRun(env.store.db, "etl", "once")).params)).toEqual({ region: "eu", n: 2 });
    expect(runsBefore.map((r) => r.id)).toEqual([first.id]);
  });

  it("validates conf against params and stores the defaults merged with conf", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const bad = await expectCode(triggerDagRun(env.store, "etl", { conf: { n: "three" } }), "UPDRAFT_E_PARAMS_INVALID");
    expect(bad.message).toContain("'n'");
    await expectCode(triggerDagRun(env.store, "etl", { conf: { n: 1.5 } }), "UPDRAFT_E_PARAMS_INVALID");
    expect(await countRows(env.store, "dag_run")).toBe(0);
    expect(await countRows(env.store, "task_instance")).toBe(0);

    const run = await triggerDagRun(env.store, "etl", { conf: { n: 5, extra: { deep: [1, 2] } } });
    const row = await requireDagRun(env.store.db, "etl", run.runId);
    expect(JSON.parse(row.conf)).toEqual({ n: 5, extra: { deep: [1, 2] } });
    expect(JSON.parse(row.params)).toEqual({ region: "eu", n: 5, extra: { deep: [1, 2] } });

    await expectCode(triggerDagRun(env.store, "etl", { conf: [1, 2] as unknown as Record<string, unknown> }), "UPDRAFT_E_USAGE");
  });

  it("a required param (no default) must come from conf", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "req.ts", [simpleDag("req.ts", "req", ["t"], { params: { target: { type: "string" } } })]);
    const missing = await expectCode(triggerDagRun(env.store, "req"), "UPDRAFT_E_PARAMS_INVALID");
    expect(missing.message).toContain("'target'");
    const run = await triggerDagRun(env.store, "req", { conf: { target: "prod" } });
    expect(JSON.parse((await requireDagRun(env.store.db, "req", run.runId)).params)).toEqual({ target: "prod" });
  });

  it("a scheduled run for a logical date that has one already returns null, and the transaction goes on", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const { versionId, structure } = await latest(env.store, "etl");
    const day = Date.UTC(2026, 0, 1);

    const { dialect: storeDialect } = env.store;
    const result = await env.store.transaction(async (trx) => {
      const ctx = { db: trx, dialect: storeDialect };
      const first = await insertDagRun(ctx, scheduledRun("etl", versionId, structure, day));
      const second = await insertDagRun(ctx, { ...scheduledRun("etl", versionId, structure, day), runId: "another_id" });
      // The transaction must still be usable (on PostgreSQL a failed statement would abort it).
      const third = await insertDagRun(ctx, scheduledRun("etl", versionId, structure, day + DAY));
      const count = await trx.selectFrom("dag_run").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
      return { first, second, third, count: Number(count.n) };
    });
    expect(result.first).toEqual(expect.any(Number));
    expect(result.second).toBeNull();
    expect(result.third).toEqual(expect.any(Number));
    expect(result.count).toBe(2);

    // In a transaction of its own, too; and the committed state has no duplicate.
    const again = await env.store.transaction((trx) => insertDagRun({ db: trx, dialect: storeDialect }, scheduledRun("etl", versionId, structure, day)));
    expect(again).toBeNull();
    const runs = await listDagRuns(env.store.db, { dagId: "etl" });
    expect(runs.map((r) => [r.run_type, r.logical_date])).toEqual([
      ["scheduled", day + DAY],
      ["scheduled", day],
    ]);
    expect(await countRows(env.store, "task_instance")).toBe(8);

    // A manual run on the same logical date is not a scheduled duplicate.
    const manual = await triggerDagRun(env.store, "etl", { logicalDate: day });
    expect(manual.id).toEqual(expect.any(Number));
    expect(await countRows(env.store, "dag_run")).toBe(3);
  });

  it("refuses to trigger an inactive DAG or an unknown one", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "gone"), simpleDag("f.ts", "stays")]);
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "stays")]);
    const error = await expectCode(triggerDagRun(env.store, "gone"), "UPDRAFT_E_DAG_INACTIVE");
    expect(error.status).toBe(409);
    await expectCode(triggerDagRun(env.store, "never"), "UPDRAFT_E_DAG_NOT_FOUND");
    expect(await countRows(env.store, "dag_run")).toBe(0);
  });

  it("a paused DAG can be triggered; the run says so", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "paused")], { pausedAtCreation: true });
    const run = await triggerDagRun(env.store, "paused");
    expect(run.paused).toBe(true);
    expect((await requireDagRun(env.store.db, "paused", run.runId)).state).toBe("queued");
  });

  it("requireDagRun and requireTaskInstance name what exists when a lookup fails", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const empty = await expectCode(requireDagRun(env.store.db, "etl", "nope"), "UPDRAFT_E_DAG_RUN_NOT_FOUND");
    expect(empty.hint).toMatch(/no runs/);
    await triggerDagRun(env.store, "etl", { runId: "r1" });
    const missing = await expectCode(requireDagRun(env.store.db, "etl", "nope"), "UPDRAFT_E_DAG_RUN_NOT_FOUND");
    expect(missing.hint).toContain("r1");
    const run = await requireDagRun(env.store.db, "etl", "r1");
    expect((await requireTaskInstance(env.store.db, run, "b")).task_id).toBe("b");
    const noTask = await expectCode(requireTaskInstance(env.store.db, run, "zzz"), "UPDRAFT_E_TASK_NOT_FOUND");
    expect(noTask.hint).toContain("a, b, c, x");
  });
});
