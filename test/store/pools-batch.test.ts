import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { chunk, MAX_PARAMS, updateFromValues } from "../../src/store/batch.js";
import { deletePool, listPools, setPool } from "../../src/store/pools.js";
import { listTaskInstances } from "../../src/store/runs.js";
import { countRows, DIALECTS, envFactory, etlDag, expectCode, recordFile } from "./fixtures.js";

describe("chunk", () => {
  it("splits into pieces of at most `size`, keeping order", () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 3)).toEqual([]);
    expect(chunk([1, 2], 5)).toEqual([[1, 2]]);
  });
});

describe.each(DIALECTS)("pools (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  it("sets, updates, lists and deletes pools", async () => {
    const env = await makeEnv();
    expect(await listPools(env.store.db)).toEqual([
      { name: "default_pool", slots: 128, description: "Default pool", include_deferred: 0, queued: 0, running: 0, occupied: 0 },
    ]);
    await setPool(env.store.db, "etl", 4, "for ETL");
    await setPool(env.store.db, "a.b-c_d", 0, null);
    expect((await listPools(env.store.db)).map((p) => [p.name, p.slots, p.description])).toEqual([
      ["a.b-c_d", 0, null],
      ["default_pool", 128, "Default pool"],
      ["etl", 4, "for ETL"],
    ]);
    await setPool(env.store.db, "etl", 9, "bigger");
    await setPool(env.store.db, "default_pool", 64, "smaller");
    expect((await listPools(env.store.db)).map((p) => [p.name, p.slots, p.description])).toEqual([
      ["a.b-c_d", 0, null],
      ["default_pool", 64, "smaller"],
      ["etl", 9, "bigger"],
    ]);
    await deletePool(env.store.db, "etl");
    expect((await listPools(env.store.db)).map((p) => p.name)).toEqual(["a.b-c_d", "default_pool"]);
    await expectCode(deletePool(env.store.db, "etl"), "UPDRAFT_E_POOL_NOT_FOUND");
  });

  it("default_pool cannot be deleted; invalid names and slot counts are refused", async () => {
    const env = await makeEnv();
    const def = await expectCode(deletePool(env.store.db, "default_pool"), "UPDRAFT_E_USAGE");
    expect(def.hint).toMatch(/slots/);
    for (const name of ["", "has space", "slash/name", "x".repeat(251), "ü"]) {
      await expectCode(setPool(env.store.db, name, 1, null), "UPDRAFT_E_INVALID_ID");
    }
    for (const slots of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expectCode(setPool(env.store.db, "ok", slots, null), "UPDRAFT_E_USAGE");
    }
    expect((await listPools(env.store.db)).map((p) => [p.name, p.slots])).toEqual([["default_pool", 128]]);
  });

  it("counts occupied slots from queued and running task instances", async () => {
    const env = await makeEnv();
    await setPool(env.store.db, "etl", 10, null);
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const one = await triggerDagRun(env.store, "etl", { runId: "one" });
    const two = await triggerDagRun(env.store, "etl", { runId: "two" });
    const three = await triggerDagRun(env.store, "etl", { runId: "three" });
    const setState = (runId: number, taskIds: string[], state: string) =>
      env.store.db.updateTable("task_instance").set({ state }).where("dag_run_id", "=", runId).where("task_id", "in", taskIds).execute();
    await setState(one.id, ["b"], "queued"); // 2 slots of etl
    await setState(two.id, ["b"], "running"); // 2 slots of etl
    await setState(three.id, ["b"], "success"); // not counted
    await setState(one.id, ["a", "x"], "running"); // 2 slots of default_pool
    await setState(two.id, ["a"], "queued"); // 1 slot of default_pool
    await setState(three.id, ["a", "x"], "scheduled"); // not counted
    await setState(three.id, ["c"], "up_for_retry"); // not counted

    const pools = Object.fromEntries((await listPools(env.store.db)).map((p) => [p.name, p]));
    expect(pools.etl).toMatchObject({ slots: 10, queued: 2, running: 2, occupied: 4 });
    expect(pools.default_pool).toMatchObject({ slots: 128, queued: 1, running: 2, occupied: 3 });
  });
});

describe.each(DIALECTS)("updateFromValues (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);

  it("updates many rows with different values in one call, honouring the where guard", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const run = await triggerDagRun(env.store, "etl");
    const ids = Object.fromEntries((await listTaskInstances(env.store.db, run.id)).map((t) => [t.task_id, t.id]));
    await env.store.db.updateTable("task_instance").set({ state: "running" }).where("id", "=", ids.x!).execute();

    await updateFromValues(
      env.store.db,
      "task_instance",
      [
        { name: "id", type: "bigint" },
        { name: "state", type: "text" },
        { name: "next_retry_at", type: "bigint" },
        { name: "priority_weight", type: "integer" },
      ],
      [
        [ids.a, "scheduled", null, 50],
        [ids.b, "up_for_retry", 1_767_225_600_123, 40],
        [ids.c, "queued", null, 30],
        [ids.x, "scheduled", 5, 20], // guarded out: x is running
      ],
      { where: sql`task_instance.state = 'none'`, set: [sql`updated_at = ${12345}`] },
    );

    const after = Object.fromEntries((await listTaskInstances(env.store.db, run.id)).map((t) => [t.task_id, t]));
    expect(after.a).toMatchObject({ state: "scheduled", next_retry_at: null, priority_weight: 50, updated_at: 12345 });
    expect(after.b).toMatchObject({ state: "up_for_retry", next_retry_at: 1_767_225_600_123, priority_weight: 40, updated_at: 12345 });
    expect(after.c).toMatchObject({ state: "queued", priority_weight: 30, updated_at: 12345 });
    expect(after.x).toMatchObject({ state: "running", next_retry_at: null, priority_weight: 1 });
    expect(after.x!.updated_at).not.toBe(12345);

    // No rows: nothing to do, no error.
    await updateFromValues(env.store.db, "task_instance", [{ name: "id", type: "bigint" }, { name: "state", type: "text" }], []);
  });

  it("handles more rows than fit in one statement", async () => {
    const env = await makeEnv();
    const columns = [
      { name: "name", type: "text" },
      { name: "slots", type: "integer" },
      { name: "description", type: "text" },
    ] as const;
    const perStatement = Math.floor(MAX_PARAMS / columns.length);
    const n = perStatement * 2 + 17;
    const names = Array.from({ length: n }, (_, i) => `p${String(i).padStart(5, "0")}`);
    for (const part of chunk(names, 1000)) {
      await env.store.db.insertInto("pool").values(part.map((name) => ({ name, slots: 0, description: null, include_deferred: 0 }))).execute();
    }
    await updateFromValues(
      env.store.db,
      "pool",
      columns,
      names.map((name, i) => [name, i, `d${i}`]),
      { where: sql`pool.name <> 'p00003'` },
    );
    const rows = await env.store.db.selectFrom("pool").select(["name", "slots", "description"]).where("name", "like", "p%").orderBy("name").execute();
    expect(rows).toHaveLength(n);
    const wrong = rows.filter((r, i) => (i === 3 ? r.slots !== 0 || r.description !== null : r.slots !== i || r.description !== `d${i}`));
    expect(wrong).toEqual([]);
    expect(rows[n - 1]).toEqual({ name: names[n - 1], slots: n - 1, description: `d${n - 1}` });
    expect(await countRows(env.store, "pool")).toBe(n + 1);
  });
});
