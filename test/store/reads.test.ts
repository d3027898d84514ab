import { describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { listDagRuns, listTaskInstances, listTries, readLogs, readXcoms } from "../../src/store/runs.js";
import { DIALECTS } from "../helpers/dialects.js";
import { envFactory, recordFile, simpleDag } from "./fixtures.js";

const D = (day: number) => Date.UTC(2026, 0, day);

describe.each(DIALECTS)("reading runs, logs and XComs (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  it("listDagRuns filters by DAG, state and run type, pages, and orders newest logical date first", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "alpha", ["t"]), simpleDag("f.ts", "beta", ["t"])]);
    await triggerDagRun(env.store, "alpha", { runId: "a2", logicalDate: D(2) });
    await triggerDagRun(env.store, "alpha", { runId: "a5", logicalDate: D(5) });
    await triggerDagRun(env.store, "alpha", { runId: "a3", logicalDate: D(3) });
    await triggerDagRun(env.store, "alpha", { runId: "a3bis", logicalDate: D(3) });
    await triggerDagRun(env.store, "alpha", { runId: "t4", logicalDate: D(4), runType: "test" });
    await triggerDagRun(env.store, "beta", { runId: "b9", logicalDate: D(9) });
    await env.store.db.updateTable("dag_run").set({ state: "success" }).where("run_id", "in", ["a2", "a3", "b9"]).execute();
    await env.store.db.updateTable("dag_run").set({ state: "failed" }).where("run_id", "=", "a5").execute();

    const ids = (rows: Array<{ run_id: string }>) => rows.map((r) => r.run_id);
    // Same logical date: the later run (higher id) first.
    expect(ids(await listDagRuns(env.store.db))).toEqual(["b9", "a5", "t4", "a3bis", "a3", "a2"]);
    expect(ids(await listDagRuns(env.store.db, { dagId: "alpha" }))).toEqual(["a5", "t4", "a3bis", "a3", "a2"]);
    expect(ids(await listDagRuns(env.store.db, { dagId: "beta" }))).toEqual(["b9"]);
    expect(ids(await listDagRuns(env.store.db, { state: "success" }))).toEqual(["b9", "a3", "a2"]);
    expect(ids(await listDagRuns(env.store.db, { dagId: "alpha", state: "queued" }))).toEqual(["t4", "a3bis"]);
    expect(ids(await listDagRuns(env.store.db, { runType: "test" }))).toEqual(["t4"]);
    expect(ids(await listDagRuns(env.store.db, { runType: "manual", dagId: "alpha", state: "failed" }))).toEqual(["a5"]);
    expect(ids(await listDagRuns(env.store.db, { runType: "scheduled" }))).toEqual([]);
    expect(ids(await listDagRuns(env.store.db, { limit: 2 }))).toEqual(["b9", "a5"]);
    expect(ids(await listDagRuns(env.store.db, { limit: 2, offset: 2 }))).toEqual(["t4", "a3bis"]);
    expect(ids(await listDagRuns(env.store.db, { offset: 5 }))).toEqual(["a2"]);
    expect(ids(await listDagRuns(env.store.db, { dagId: "nobody" }))).toEqual([]);
  });

  it("readLogs returns one try's lines in order, after an id and up to a limit", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "logs", ["t", "u"])]);
    const run = await triggerDagRun(env.store, "logs");
    const [t, u] = await listTaskInstances(env.store.db, run.id);
    const line = (tiId: number, tryNumber: number, message: string, stream = "stdout") => ({ ti_id: tiId, try_number: tryNumber, ts: D(1), stream, level: "info", message });
    await env.store.db
      .insertInto("task_log")
      .values([line(t!.id, 1, "t1-first"), line(t!.id, 2, "t2-first"), line(u!.id, 1, "u1-first"), line(t!.id, 1, "t1-second", "stderr"), line(t!.id, 1, "t1-third", "log")])
      .execute();

    const all = await readLogs(env.store.db, t!.id, 1);
    expect(all.map((l) => l.message)).toEqual(["t1-first", "t1-second", "t1-third"]);
    expect(all.map((l) => l.stream)).toEqual(["stdout", "stderr", "log"]);
    expect(all[0]).toMatchObject({ ti_id: t!.id, try_number: 1, ts: D(1), level: "info" });
    expect((await readLogs(env.store.db, t!.id, 1, { afterId: all[0]!.id })).map((l) => l.message)).toEqual(["t1-second", "t1-third"]);
    expect(await readLogs(env.store.db, t!.id, 1, { afterId: all[2]!.id })).toEqual([]);
    expect((await readLogs(env.store.db, t!.id, 1, { limit: 1 })).map((l) => l.message)).toEqual(["t1-first"]);
    expect((await readLogs(env.store.db, t!.id, 2)).map((l) => l.message)).toEqual(["t2-first"]);
    expect(await readLogs(env.store.db, t!.id, 3)).toEqual([]);
    expect((await readLogs(env.store.db, u!.id, 1)).map((l) => l.message)).toEqual(["u1-first"]);
  });

  it("readXcoms returns a run's XComs ordered by task and key, optionally for one task", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "x", ["t", "u"])]);
    const one = await triggerDagRun(env.store, "x", { runId: "one" });
    const two = await triggerDagRun(env.store, "x", { runId: "two" });
    const xcom = (dagRunId: number, taskId: string, key: string, value: unknown) => ({ dag_run_id: dagRunId, task_id: taskId, key, value: JSON.stringify(value), created_at: D(1) });
    await env.store.db
      .insertInto("xcom")
      .values([
        xcom(one.id, "u", "return_value", { total: 3 }),
        xcom(one.id, "t", "zeta", "z"),
        xcom(one.id, "t", "return_value", [1, 2]),
        xcom(one.id, "t", "alpha", null),
        xcom(two.id, "t", "return_value", "other run"),
      ])
      .execute();
    expect(await readXcoms(env.store.db, one.id)).toEqual([
      { task_id: "t", key: "alpha", value: "null" },
      { task_id: "t", key: "return_value", value: "[1,2]" },
      { task_id: "t", key: "zeta", value: '"z"' },
      { task_id: "u", key: "return_value", value: '{"total":3}' },
    ]);
    expect(await readXcoms(env.store.db, one.id, "u")).toEqual([{ task_id: "u", key: "return_value", value: '{"total":3}' }]);
    expect(await readXcoms(env.store.db, two.id)).toEqual([{ task_id: "t", key: "return_value", value: '"other run"' }]);
    expect(await readXcoms(env.store.db, one.id, "nope")).toEqual([]);
  });

  it("listTries returns a task instance's finished tries in try order", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "f.ts", [simpleDag("f.ts", "tries", ["t"])]);
    const run = await triggerDagRun(env.store, "tries");
    const [ti] = await listTaskInstances(env.store.db, run.id);
    const tryRow = (n: number, state: string) => ({
      ti_id: ti!.id, dag_run_id: run.id, dag_id: "tries", task_id: "t", try_number: n, try_id: `try-${n}`, state, end_date: D(n),
      error: state === "failed" ? JSON.stringify({ message: "boom", code: null, stack: null, retryable: true }) : null,
    });
    await env.store.db.insertInto("task_try").values([tryRow(2, "success"), tryRow(1, "failed")]).execute();
    const tries = await listTries(env.store.db, ti!.id);
    expect(tries.map((t) => [t.try_number, t.state, t.try_id])).toEqual([
      [1, "failed", "try-1"],
      [2, "success", "try-2"],
    ]);
    expect(JSON.parse(tries[0]!.error!)).toMatchObject({ message: "boom", retryable: true });
  });
});
