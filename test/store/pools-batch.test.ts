import { describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { chunk } from "../../src/store/batch.js";
import { exec, list, query, rows, statement, type Columns } from "../../src/store/sql.js";
import { deletePool, listPools, setPool } from "../../src/store/pools.js";
import { listTaskInstances } from "../../src/store/runs.js";
import { DIALECTS } from "../helpers/dialects.js";
import { envFactory, etlDag, expectCode, recordFile } from "./fixtures.js";

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

describe.each(DIALECTS)("hot-path statements (%s)", (dialect) => {
  const makeEnv = envFactory(dialect);
  const UPDATE_COLUMNS: Columns = [["id", "bigint"], ["state", "text"], ["next_retry_at", "bigint"], ["priority_weight", "integer"]];
  const UPDATE = statement(
    (d) => `update task_instance set state = v.state, next_retry_at = v.next_retry_at, priority_weight = v.priority_weight, updated_at = ?
      from ${d.rows(UPDATE_COLUMNS)}
      where task_instance.id = v.id and task_instance.state = 'none'`,
  );
  const BY_IDS = statement((d) => `select task_id, state from task_instance where id ${d.inList} order by task_id`);

  it("updates many rows with different values in one statement, honouring the guard", async () => {
    const env = await makeEnv();
    await recordFile(env.store, "etl.ts", [etlDag()]);
    const run = await triggerDagRun(env.store, "etl");
    const ids = Object.fromEntries((await listTaskInstances(env.store.db, run.id)).map((t) => [t.task_id, t.id]));
    await env.store.db.updateTable("task_instance").set({ state: "running" }).where("id", "=", ids.x!).execute();
    const ctx = { db: env.store.db, dialect: env.store.dialect };
    const changed = await exec(ctx, UPDATE, [
      12345,
      rows(ctx, UPDATE_COLUMNS, [
        { id: ids.a, state: "scheduled", next_retry_at: null, priority_weight: 50 },
        { id: ids.b, state: "up_for_retry", next_retry_at: 1_767_225_600_123, priority_weight: 40 },
        { id: ids.c, state: "queued", next_retry_at: null, priority_weight: 30 },
        { id: ids.x, state: "scheduled", next_retry_at: 5, priority_weight: 20 }, // guarded out: x is running
      ]),
    ]);
    expect(changed).toBe(3);
    const after = Object.fromEntries((await listTaskInstances(env.store.db, run.id)).map((t) => [t.task_id, t]));
    expect(after.a).toMatchObject({ state: "scheduled", next_retry_at: null, priority_weight: 50, updated_at: 12345 });
    expect(after.b).toMatchObject({ state: "up_for_retry", next_retry_at: 1_767_225_600_123, priority_weight: 40, updated_at: 12345 });
    expect(after.c).toMatchObject({ state: "queued", priority_weight: 30, updated_at: 12345 });
    expect(after.x).toMatchObject({ state: "running", next_retry_at: null, priority_weight: 1 });
    // A list parameter selects exactly the rows named, whatever their number.
    const picked = await query<{ task_id: string; state: string }>(ctx, BY_IDS, [list(ctx, [ids.a, ids.x])]);
    expect(picked).toEqual([
      { task_id: "a", state: "scheduled" },
      { task_id: "x", state: "running" },
    ]);
    expect(await query(ctx, BY_IDS, [list(ctx, [])])).toEqual([]);
  });

  it("carries text with quotes, backslashes and unicode through a row set unchanged", async () => {
    const env = await makeEnv();
    const ctx = { db: env.store.db, dialect: env.store.dialect };
    const POOL_COLUMNS: Columns = [["name", "text"], ["slots", "integer"], ["description", "text"]];
    const INSERT = statement((d) => `insert into pool (name, slots, description, include_deferred) select name, slots, description, 0 from ${d.rows(POOL_COLUMNS)}`);
    const tricky = [`it's "quoted"`, "back\\slash \\u0000 literal", "ünïcødé ✓ 🚀", "multi\nline", ""];
    const n = 3_000;
    await exec(ctx, INSERT, [rows(ctx, POOL_COLUMNS, Array.from({ length: n }, (_, i) => ({ name: `p${String(i).padStart(5, "0")}`, slots: i, description: tricky[i % tricky.length] })))]);
    const stored = await env.store.db.selectFrom("pool").select(["name", "slots", "description"]).where("name", "like", "p%").orderBy("name").execute();
    expect(stored).toHaveLength(n);
    expect(stored.filter((r, i) => r.slots !== i || r.description !== tricky[i % tricky.length])).toEqual([]);
  });
});
