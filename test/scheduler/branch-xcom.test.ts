/** Branches, XCom (outputs, push/pull, limits), task logs and the task context, through real DAG files. */
import { afterEach, describe, expect, it } from "vitest";
import { DIALECTS } from "../helpers/dialects.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags, runDag, startScheduler, taskStates } from "../helpers/run.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { logLines, triesOf, xcomOf } from "./support.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe.each(DIALECTS)("branch (%s)", (dialect) => {
  it("follows the chosen direct downstream task(s), skips the others, and a none_failed_min_one_success join runs", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "branchy.ts": `
          import { dag, task, branch } from "updraft";
          const count = task({ id: "count", run: () => 7 });
          const pick = branch({ id: "pick", run: (n: number) => (n > 5 ? "big" : "small") });
          const big = task({ id: "big", run: () => "big load" });
          const small = task({ id: "small", run: () => "small load" });
          const afterSmall = task({ id: "after_small", run: () => "never" });
          const join = task({ id: "join", triggerRule: "none_failed_min_one_success", run: () => "joined" });
          const strictJoin = task({ id: "strict_join", run: () => "never" });
          const both = branch({ id: "both", run: () => ["a", "b"] });
          const none = branch({ id: "none", run: () => null });
          const leaf = task({ id: "leaf", run: () => 1 });
          export default dag({ id: "branchy" }, () => {
            const x = both();
            leaf(undefined, { id: "a" }).after(x);
            leaf(undefined, { id: "b" }).after(x);
            leaf(undefined, { id: "c" }).after(x);
            leaf(undefined, { id: "d" }).after(none());
            const choice = pick(count());
            const b = big().after(choice);
            const s = small().after(choice);
            afterSmall().after(s);
            join().after(b, s);
            strictJoin().after(b, s);
          });
        `,
      },
    });
    const run = await runDag(env, "branchy");
    expect(run.state).toBe("success");
    const states = Object.fromEntries(Object.entries(run.tasks).map(([id, t]) => [id, t.state]));
    expect(states).toEqual({
      count: "success",
      pick: "success",
      big: "success",
      small: "skipped",
      after_small: "skipped",
      join: "success",
      strict_join: "skipped",
      // A branch may follow several tasks, or none.
      both: "success",
      a: "success",
      b: "success",
      c: "skipped",
      none: "success",
      d: "skipped",
    });
    expect(run.tasks.small!.tryNumber).toBe(0);
    expect(await xcomOf(env, run.id, "join")).toBe("joined");
  });

  it("a branch that ended elsewhere (the execution API, before a restart) is followed by a full evaluation, from its stored choice", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "elsewhere.ts": `
          import { dag, task, branch } from "updraft";
          const pick = branch({ id: "pick", run: () => "small" });
          const big = task({ id: "big", run: () => "big" });
          const small = task({ id: "small", run: () => "small" });
          export default dag({ id: "elsewhere" }, () => {
            const choice = pick();
            big().after(choice);
            small().after(choice);
          });
        `,
      },
    });
    await processDags(env);
    const run = await triggerDagRun(env.store, "elsewhere");
    // As a remote try's end leaves it: the branch succeeded with its choice stored, nothing decided after it.
    const now = Date.now();
    await env.store.db.updateTable("task_instance").set({ state: "success", try_number: 1, start_date: now, end_date: now }).where("dag_run_id", "=", run.id).where("task_id", "=", "pick").execute();
    await env.store.db.insertInto("xcom").values({ dag_run_id: run.id, task_id: "pick", key: "return_value", value: '["big"]', created_at: now }).execute();
    const s = await startScheduler(env);
    try {
      expect(await s.waitForRun(run.id)).toBe("success");
    } finally {
      await s.stop();
    }
    const states = Object.fromEntries(Object.entries(await taskStates(env, run.id)).map(([id, t]) => [id, t.state]));
    expect(states).toEqual({ pick: "success", big: "success", small: "skipped" });
  });

  it("a direct downstream task that is also downstream of the followed task is not skipped (Airflow's empty-branch case)", async () => {
    // branch ──────────► join      Airflow's skip_all_except adds every descendant of a followed
    //    └──► task1 ──────┘         task to the follow set, so following task1 does not skip join.
    env = await createTestEnv({
      dialect,
      dags: {
        "empty_branch.ts": `
          import { dag, task, branch } from "updraft";
          const pick = branch({ id: "pick", run: () => "task1" });
          const task1 = task({ id: "task1", run: () => 1 });
          const join = task({ id: "join", triggerRule: "none_failed_min_one_success", run: () => "joined" });
          export default dag({ id: "empty_branch" }, () => { const p = pick(); join().after(p, task1().after(p)); });
        `,
      },
    });
    const run = await runDag(env, "empty_branch");
    expect([run.tasks.pick!.state, run.tasks.task1!.state]).toEqual(["success", "success"]);
    expect(run.tasks.join!.state).toBe("success");
    expect(run.state).toBe("success");
  });

  it("a branch returning an id that is not a direct downstream task fails with UPDRAFT_E_BRANCH_INVALID, without retry", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "lost.ts": `
          import { dag, task, branch } from "updraft";
          const pick = branch({ id: "pick", retries: 2, retryDelay: "100ms", run: () => "nowhere" });
          const left = task({ id: "left", run: () => 1 });
          const right = task({ id: "right", run: () => 2 });
          export default dag({ id: "lost" }, () => { const p = pick(); left().after(p); right().after(p); });
        `,
      },
    });
    const run = await runDag(env, "lost");
    expect(run.state).toBe("failed");
    expect(run.tasks.pick).toMatchObject({ state: "failed", tryNumber: 1 });
    expect(run.tasks.left!.state).toBe("upstream_failed");
    expect(run.tasks.right!.state).toBe("upstream_failed");
    const tries = await triesOf(env, run.id, "pick");
    expect(tries).toHaveLength(1);
    expect(tries[0]!.error).toMatchObject({ code: "UPDRAFT_E_BRANCH_INVALID", retryable: false });
    expect(tries[0]!.error!.message).toContain("nowhere");
  });
});

describe.each(DIALECTS)("XCom (%s)", (dialect) => {
  it("typed values flow through a chain and through an object input mixing refs and literals", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "typed.ts": `
          import { dag, task } from "updraft";
          interface Sale { sku: string; qty: number; price: number }
          const extract = task({ id: "extract", run: (): Sale[] => [{ sku: "a", qty: 2, price: 1.5 }, { sku: "b", qty: 1, price: 10 }] });
          const total = task({ id: "total", run: (sales: Sale[]) => sales.reduce((s, x) => s + x.qty * x.price, 0) });
          const count = task({ id: "count", run: (sales: Sale[]) => sales.length });
          const report = task({
            id: "report",
            run: (input: { total: number; count: number; label: string; extra: { flags: boolean[]; nested: number[] }; nothing: null }) => input,
          });
          export default dag({ id: "typed" }, () => {
            const sales = extract();
            const t = total(sales);
            const n = count(sales);
            report({ total: t, count: n, label: "daily", extra: { flags: [true, false], nested: [n, 42, t] }, nothing: null });
          });
        `,
      },
    });
    const run = await runDag(env, "typed");
    expect(run.state).toBe("success");
    expect(await xcomOf(env, run.id, "extract")).toEqual([{ sku: "a", qty: 2, price: 1.5 }, { sku: "b", qty: 1, price: 10 }]);
    expect(await xcomOf(env, run.id, "total")).toBe(13);
    expect(await xcomOf(env, run.id, "report")).toEqual({ total: 13, count: 2, label: "daily", extra: { flags: [true, false], nested: [2, 42, 13] }, nothing: null });
  });

  it("ctx.xcom.push stores a keyed value and ctx.xcom.pull reads it (and return values) in another task", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "pushpull.ts": `
          import { dag, task } from "updraft";
          const producer = task({
            id: "producer",
            run: async (_: void, ctx) => { await ctx.xcom.push("stats", { rows: 3, ok: true }); return "out"; },
          });
          const consumer = task({
            id: "consumer",
            run: async (_: void, ctx) => ({
              stats: await ctx.xcom.pull("producer", "stats"),
              output: await ctx.xcom.pull("producer"),
              missing: (await ctx.xcom.pull("producer", "nope")) ?? "undefined",
            }),
          });
          export default dag({ id: "pushpull" }, () => { consumer().after(producer()); });
        `,
      },
    });
    const run = await runDag(env, "pushpull");
    expect(run.state).toBe("success");
    expect(await xcomOf(env, run.id, "producer", "stats")).toEqual({ rows: 3, ok: true });
    expect(await xcomOf(env, run.id, "consumer")).toEqual({ stats: { rows: 3, ok: true }, output: "out", missing: "undefined" });
  });

  it("a non-serializable output (a Date, a function) fails with UPDRAFT_E_XCOM_NOT_SERIALIZABLE, one over xcomMaxBytes with UPDRAFT_E_XCOM_TOO_LARGE", async () => {
    env = await createTestEnv({
      dialect,
      config: { xcomMaxBytes: "1KB" },
      dags: {
        "bad_outputs.ts": `
          import { dag, task } from "updraft";
          const when = task({ id: "when", retries: 1, retryDelay: "100ms", run: () => new Date() });
          const fn = task({ id: "fn", run: () => ({ callback: () => 1 }) });
          const fine = task({ id: "fine", run: () => new Date(0).toISOString() });
          const big = task({ id: "big", run: () => "x".repeat(2000) });
          const small = task({ id: "small", run: () => "x".repeat(500) });
          const pushBig = task({ id: "push_big", run: async (_: void, ctx) => { await ctx.xcom.push("blob", "y".repeat(5000)); } });
          const deep = task({ id: "deep", run: () => { let v: unknown = 1; for (let i = 0; i < 20000; i++) v = [v]; return v; } });
          export default dag({ id: "bad_outputs" }, () => { when(); fn(); fine(); big(); small(); pushBig(); deep(); });
        `,
      },
    });
    const run = await runDag(env, "bad_outputs");
    expect(run.state).toBe("failed");
    expect(run.tasks.fine!.state).toBe("success");
    expect(run.tasks.small!.state).toBe("success");

    const [date] = await triesOf(env, run.id, "when");
    expect(run.tasks.when).toMatchObject({ state: "failed", tryNumber: 1 }); // not retried: it would fail again
    expect(date!.error).toMatchObject({ code: "UPDRAFT_E_XCOM_NOT_SERIALIZABLE", retryable: false });
    expect(date!.error!.message).toContain("Date");
    expect(await xcomOf(env, run.id, "when")).toBeUndefined();
    const [fn] = await triesOf(env, run.id, "fn");
    expect(fn!.error?.code).toBe("UPDRAFT_E_XCOM_NOT_SERIALIZABLE");
    expect(fn!.error!.message).toContain("callback");

    const [big] = await triesOf(env, run.id, "big");
    expect(big!.error?.code).toBe("UPDRAFT_E_XCOM_TOO_LARGE");
    expect(await xcomOf(env, run.id, "big")).toBeUndefined();
    const [pushBig] = await triesOf(env, run.id, "push_big");
    expect(pushBig!.error?.code).toBe("UPDRAFT_E_XCOM_TOO_LARGE");
    expect(await xcomOf(env, run.id, "push_big", "blob")).toBeUndefined();
    const [deep] = await triesOf(env, run.id, "deep");
    expect(deep!.error).toMatchObject({ code: "UPDRAFT_E_JSON_TOO_DEEP", retryable: false });
  });
});

describe.each(DIALECTS)("task logs (%s)", (dialect) => {
  it("ctx.log and console lines go to the try's log; a failing try logs its error with the stack", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "chatty.ts": `
          import { dag, task } from "updraft";
          const talk = task({
            id: "talk",
            run: (_: void, ctx) => {
              ctx.log.info("from ctx.log", { n: 1 });
              ctx.log.warn("a warning");
              console.log("from console.log");
              console.error("from console.error");
              return "ok";
            },
          });
          function explode(): never { throw new Error("kaboom in the task"); }
          const broken = task({ id: "broken", retries: 1, retryDelay: "100ms", run: (_: void, ctx) => { ctx.log.info("try " + ctx.tryNumber); explode(); } });
          export default dag({ id: "chatty" }, () => { talk(); broken(); });
        `,
      },
    });
    const run = await runDag(env, "chatty");
    expect(run.state).toBe("failed");
    const talk = await logLines(env, run.tasks.talk!.id, 1);
    expect(talk).toContainEqual({ stream: "log", level: "info", message: "from ctx.log { n: 1 }" });
    expect(talk).toContainEqual({ stream: "log", level: "warn", message: "a warning" });
    expect(talk).toContainEqual(expect.objectContaining({ stream: "stdout", message: "from console.log" }));
    expect(talk).toContainEqual(expect.objectContaining({ stream: "stderr", message: "from console.error" }));

    // Each try has its own log.
    for (const tryNumber of [1, 2]) {
      const lines = await logLines(env, run.tasks.broken!.id, tryNumber);
      expect(lines.map((l) => l.message)).toContain(`try ${tryNumber}`);
      expect(lines.map((l) => l.message)).not.toContain(`try ${3 - tryNumber}`);
      const errors = lines.filter((l) => l.level === "error").map((l) => l.message);
      expect(errors.some((m) => m.includes("kaboom in the task")), errors.join("\n")).toBe(true);
      expect(errors.some((m) => /^\s+at .*explode/.test(m)), `a stack frame naming explode in:\n${errors.join("\n")}`).toBe(true);
    }
    const [first] = await triesOf(env, run.id, "broken");
    expect(first!.error!.stack).toContain("kaboom in the task");
  });
});

describe.each(DIALECTS)("the task context (%s)", (dialect) => {
  it("ds is the logical date in the DAG's timezone; params are defaults merged with conf; dataInterval of a manual run", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "tokyo.ts": `
          import { dag, task } from "updraft";
          const show = task({
            id: "show",
            run: (_: void, ctx) => ({
              dagId: ctx.dagId,
              runId: ctx.runId,
              taskId: ctx.taskId,
              tryNumber: ctx.tryNumber,
              maxTries: ctx.maxTries,
              ds: ctx.ds,
              logicalDate: ctx.logicalDate.toISOString(),
              start: ctx.dataInterval.start.toISOString(),
              end: ctx.dataInterval.end.toISOString(),
              params: ctx.params,
              conf: ctx.conf,
            }),
          });
          export default dag(
            {
              id: "tokyo",
              schedule: "@daily",
              timezone: "Asia/Tokyo",
              startDate: "2026-01-01",
              params: { region: { type: "string", default: "eu" }, limit: { type: "integer", default: 5 } },
              defaults: { retries: 2 },
            },
            () => { show(); },
          );
        `,
      },
    });
    const run = await runDag(env, "tokyo", { logicalDate: "2026-03-01T23:30:00Z", conf: { region: "us" }, runId: "manual_tokyo" });
    expect(run.state).toBe("success");
    expect(await xcomOf(env, run.id, "show")).toEqual({
      dagId: "tokyo",
      runId: "manual_tokyo",
      taskId: "show",
      tryNumber: 1,
      maxTries: 3,
      ds: "2026-03-02",
      logicalDate: "2026-03-01T23:30:00.000Z",
      // The latest complete daily interval (midnight to midnight, Tokyo) before the logical date,
      // as Airflow's infer_manual_data_interval: [2026-03-01 00:00+09:00, 2026-03-02 00:00+09:00).
      start: "2026-02-28T15:00:00.000Z",
      end: "2026-03-01T15:00:00.000Z",
      params: { region: "us", limit: 5 },
      conf: { region: "us" },
    });
  });
});
