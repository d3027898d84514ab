/**
 * The fencing rule of src/execution: a report changes a task instance only while its try is the
 * current one and in flight. Stale, duplicate and foreign reports are refused with a code and
 * change nothing; two hand-backs of one orphan leave one history row. On every dialect.
 */
import { afterEach, describe, expect, it } from "vitest";
import { handBackTries } from "../../src/execution/orphans.js";
import { finishTries, queueTries } from "../../src/execution/tries.js";
import { RunCache } from "../../src/scheduler/run-cache.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import type { SqlContext } from "../../src/store/sql.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags } from "../helpers/run.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const DAG = `import { dag, task } from "updraft";
const one = task({ id: "one", retries: 1, run: () => 1 });
export default dag({ id: "fence" }, () => { one(); });`;

async function setUp(dialect: (typeof DIALECTS)[number]) {
  env = await createTestEnv({ dialect, dags: { "fence.ts": DAG } });
  await processDags(env);
  const run = await triggerDagRun(env.store, "fence");
  const ti = await env.store.db.selectFrom("task_instance").selectAll().where("dag_run_id", "=", run.id).executeTakeFirstOrThrow();
  await env.store.db.updateTable("task_instance").set({ state: "scheduled" }).where("id", "=", ti.id).execute();
  const store = env.store;
  const inTrx = <T>(fn: (ctx: SqlContext) => Promise<T>) => store.transaction((trx) => fn({ db: trx, dialect: store.dialect }));
  const tryId = (await inTrx((ctx) => queueTries(ctx, [{ id: ti.id, tryNumber: 0 }], 0, Date.now()))).get(ti.id)!;
  const row = () => store.db.selectFrom("task_instance").selectAll().where("id", "=", ti.id).executeTakeFirstOrThrow();
  const history = () => store.db.selectFrom("task_try").selectAll().where("ti_id", "=", ti.id).execute();
  return { ti, tryId, inTrx, row, history, cache: new RunCache() };
}

describe.each(DIALECTS)("try fencing (%s)", (dialect) => {
  it("applies the current try's end once; a duplicate, a stale and a foreign report are refused and change nothing", async () => {
    const t = await setUp(dialect);
    const ok = { outcome: "success" as const, output: "1", at: Date.now() };
    const first = await t.inTrx((ctx) => finishTries(ctx, t.cache, [{ tryId: t.tryId, result: ok }, { tryId: t.tryId, result: { outcome: "failed", at: Date.now() } }], Date.now()));
    expect(first.ended.map((e) => e.state)).toEqual(["success"]);
    expect(first.refused.map((r) => r.code)).toEqual(["UPDRAFT_E_TRY_DUPLICATE"]);
    const after = await t.row();
    expect(after.state).toBe("success");

    const late = await t.inTrx((ctx) => finishTries(ctx, t.cache, [{ tryId: t.tryId, result: { outcome: "failed", at: Date.now() } }], Date.now()));
    expect(late.ended).toEqual([]);
    expect(late.refused.map((r) => r.code)).toEqual(["UPDRAFT_E_TRY_STALE"]);

    const foreign = await t.inTrx((ctx) =>
      finishTries(ctx, t.cache, [{ tryId: `abc.${t.ti.id}.7`, result: ok }, { tryId: "abc.999999.1", result: ok }, { tryId: "not a try", result: ok }], Date.now()),
    );
    expect(foreign.refused.map((r) => r.code).sort()).toEqual(["UPDRAFT_E_TRY_STALE", "UPDRAFT_E_TRY_UNKNOWN", "UPDRAFT_E_TRY_UNKNOWN"]);
    expect(await t.row()).toEqual(after);
    expect((await t.history()).length).toBe(1);
  });

  it("a retryable failure with a retry left waits for its retry, read from the DAG version", async () => {
    const t = await setUp(dialect);
    const at = Date.now();
    const done = await t.inTrx((ctx) => finishTries(ctx, t.cache, [{ tryId: t.tryId, result: { outcome: "failed", error: { message: "x", code: null, stack: null, retryable: true }, at } }], at));
    expect(done.ended.map((e) => e.state)).toEqual(["up_for_retry"]);
    expect((await t.row()).state).toBe("up_for_retry");
  });

  it("two hand-backs of one orphan leave one history row", async () => {
    const t = await setUp(dialect);
    await t.inTrx((ctx) => ctx.db.updateTable("task_instance").set({ state: "running", start_date: Date.now(), job_id: 424242 }).where("id", "=", t.ti.id).execute());
    const now = Date.now();
    const [a, b] = await Promise.all([
      t.inTrx((ctx) => handBackTries(ctx.db, t.cache, { interrupted: false, now })),
      t.inTrx((ctx) => handBackTries(ctx.db, t.cache, { interrupted: false, now })),
    ]);
    expect(a.runs.size + b.runs.size).toBe(1);
    expect((await t.history()).length).toBe(1);
    expect((await t.row()).state).toBe("up_for_retry");
  });

  it("a queued try handed back comes again under the same try number but a new try id: the first runner's late end cannot finish it", async () => {
    const t = await setUp(dialect);
    // Its scheduler died before the try started: the orphan goes back to scheduled without using a try.
    await t.inTrx((ctx) => ctx.db.updateTable("task_instance").set({ job_id: 424242 }).where("id", "=", t.ti.id).execute());
    await t.inTrx((ctx) => handBackTries(ctx.db, t.cache, { interrupted: false, now: Date.now() }));
    const handed = await t.row();
    expect(handed).toMatchObject({ state: "scheduled", try_number: 0 });
    const again = (await t.inTrx((ctx) => queueTries(ctx, [{ id: t.ti.id, tryNumber: handed.try_number }], 0, Date.now()))).get(t.ti.id)!;
    expect(again.split(".").slice(1)).toEqual(t.tryId.split(".").slice(1)); // same task instance and try number
    expect(again).not.toBe(t.tryId);

    const ok = { outcome: "success" as const, output: "1", at: Date.now() };
    const late = await t.inTrx((ctx) => finishTries(ctx, t.cache, [{ tryId: t.tryId, result: ok }], Date.now()));
    expect(late.refused.map((r) => r.code)).toEqual(["UPDRAFT_E_TRY_STALE"]);
    expect(await t.row()).toMatchObject({ state: "queued", try_id: again });
    const current = await t.inTrx((ctx) => finishTries(ctx, t.cache, [{ tryId: again, result: ok }], Date.now()));
    expect(current.ended.map((e) => e.state)).toEqual(["success"]);
    expect((await t.history()).map((h) => h.try_id)).toEqual([again]);
  });

  it("a try on a remote worker outlives its scheduler while it beats, and is a zombie once its beats stop", async () => {
    const t = await setUp(dialect);
    const now = Date.now();
    // Started by a worker (it beats: heartbeat_at), queued by a scheduler that is gone.
    await t.inTrx((ctx) =>
      ctx.db.updateTable("task_instance").set({ state: "running", start_date: now - 5_000, hostname: "far-host", pid: 1, job_id: 424242, heartbeat_at: now - 2_000 }).where("id", "=", t.ti.id).execute(),
    );
    const threshold = 60_000;
    const live = await t.inTrx((ctx) => handBackTries(ctx.db, t.cache, { interrupted: false, now, staleHeartbeatBefore: now - threshold }));
    expect(live.runs.size).toBe(0);
    const own = await t.inTrx((ctx) => handBackTries(ctx.db, t.cache, { ownJobId: 424242, interrupted: true, now }));
    expect(own.runs.size).toBe(0);
    expect(await t.row()).toMatchObject({ state: "running", try_id: t.tryId });

    const later = now + threshold + 1_000;
    const stale = await t.inTrx((ctx) => handBackTries(ctx.db, t.cache, { interrupted: false, now: later, staleHeartbeatBefore: later - threshold }));
    expect(stale.ended).toEqual([{ dagRunId: t.ti.dag_run_id, taskId: "one", state: "up_for_retry" }]);
    expect(await t.row()).toMatchObject({ state: "up_for_retry" });
    const [history] = await t.history();
    expect(JSON.parse(history!.error!)).toMatchObject({ code: "UPDRAFT_E_ZOMBIE" });
    expect(JSON.parse(history!.error!).message).toMatch(/far-host\) stopped heartbeating/);
  });

  it("a final end keeps the row's first start, host and pid, and writes its history and output with it", async () => {
    const t = await setUp(dialect);
    const startedAt = Date.now() - 1_000;
    await t.inTrx((ctx) => ctx.db.updateTable("task_instance").set({ state: "running", start_date: startedAt, hostname: "first-host", pid: 11 }).where("id", "=", t.ti.id).execute());
    const at = startedAt + 500;
    const done = await t.inTrx((ctx) => finishTries(ctx, t.cache, [{ tryId: t.tryId, result: { outcome: "success", output: "42", at }, started: { at: at - 1, hostname: "late-host", pid: 22 } }], at));
    expect(done.ended).toMatchObject([{ tryId: t.tryId, state: "success", taskId: "one" }]);
    expect(await t.row()).toMatchObject({ state: "success", start_date: startedAt, end_date: at, duration_ms: 500, hostname: "first-host", pid: 11, next_retry_at: null });
    expect(await t.history()).toMatchObject([{ try_id: t.tryId, try_number: 1, state: "success", start_date: startedAt, end_date: at, duration_ms: 500, hostname: "first-host", pid: 11, error: null }]);
    const xcom = await env!.store.db.selectFrom("xcom").select(["key", "value"]).where("dag_run_id", "=", t.ti.dag_run_id).where("task_id", "=", "one").execute();
    expect(xcom).toEqual([{ key: "return_value", value: "42" }]);
  });

  it("a failure that may not be retried is final at once, with the start it reported and its error in the history", async () => {
    const t = await setUp(dialect);
    const at = Date.now();
    const error = { message: "bad input", code: null, stack: null, retryable: false };
    const done = await t.inTrx((ctx) => finishTries(ctx, t.cache, [{ tryId: t.tryId, result: { outcome: "failed", error, at }, started: { at: at - 30, hostname: "h", pid: 7 } }], at));
    expect(done.ended.map((e) => e.state)).toEqual(["failed"]);
    expect(await t.row()).toMatchObject({ state: "failed", start_date: at - 30, duration_ms: 30, hostname: "h", pid: 7, next_retry_at: null });
    const [row] = await t.history();
    expect(row).toMatchObject({ state: "failed", duration_ms: 30 });
    expect(JSON.parse(row!.error!)).toEqual(error);
  });
});
