/** DAG files end to end on each dialect: dependency order, outputs, a branch with retries, the bundle cache. */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DIALECTS } from "../helpers/dialects.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { runDag } from "../helpers/run.js";
import { triesOf, xcomOf } from "./support.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe.each(DIALECTS)("a DAG file, end to end (%s)", (dialect) => {
  it("runs tasks in dependency order and hands outputs downstream", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "chain.ts": `
          import { dag, task } from "updraft";
          const one = task({ id: "one", run: () => 1 });
          const double = task({ id: "double", run: (n: number) => n * 2 });
          export default dag({ id: "chain" }, () => { double(double(one())); });
        `,
      },
    });
    const run = await runDag(env, "chain");
    expect(run.state).toBe("success");
    expect(Object.keys(run.tasks).sort()).toEqual(["double", "double__1", "one"]);
    const out = await env.store.db.selectFrom("xcom").select(["task_id", "value"]).where("dag_run_id", "=", run.id).orderBy("task_id").execute();
    expect(out).toEqual([
      { task_id: "double", value: "2" },
      { task_id: "double__1", value: "4" },
      { task_id: "one", value: "1" },
    ]);
  });

  it("keeps the bundled DAG code private: the bundle cache is 0700 and its files 0600", async () => {
    env = await createTestEnv({
      dialect,
      dags: { "one.ts": `import { dag, task } from "updraft"; const one = task({ id: "one", run: () => 1 }); export default dag({ id: "one" }, () => { one(); });` },
    });
    const run = await runDag(env, "one");
    expect(run.state).toBe("success");
    const dir = join(env.home, "cache", "bundles");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
  });

  it("a branch, a retried task and XCom hand-over in one DAG, on the dialect asked for", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "pg_mix.ts": `
          import { dag, task, branch } from "updraft";
          const extract = task({ id: "extract", run: () => ({ rows: [1, 2, 3], source: "pg" }) });
          const flaky = task({
            id: "flaky",
            retries: 2,
            retryDelay: "200ms",
            run: (data: { rows: number[] }, ctx) => {
              if (ctx.tryNumber < 2) throw new Error("transient");
              return data.rows.reduce((a, b) => a + b, 0);
            },
          });
          const pick = branch({ id: "pick", run: (sum: number) => (sum > 5 ? "load_big" : "load_small") });
          const loadBig = task({ id: "load_big", run: async (input: { sum: number; label: string }, ctx) => {
            await ctx.xcom.push("note", { label: input.label });
            return input.sum * 2;
          } });
          const loadSmall = task({ id: "load_small", run: () => 0 });
          const done = task({ id: "done", triggerRule: "none_failed_min_one_success", run: async (_: void, ctx) => ctx.xcom.pull("load_big", "note") });
          export default dag({ id: "pg_mix" }, () => {
            const sum = flaky(extract());
            const choice = pick(sum);
            const big = loadBig({ sum, label: "big" }).after(choice);
            const small = loadSmall().after(choice);
            done().after(big, small);
          });
        `,
      },
    });
    const run = await runDag(env, "pg_mix");
    expect(env.store.dialect).toBe(dialect);
    expect(run.state).toBe("success");
    expect(Object.fromEntries(Object.entries(run.tasks).map(([id, t]) => [id, [t.state, t.tryNumber]]))).toEqual({
      extract: ["success", 1],
      flaky: ["success", 2],
      pick: ["success", 1],
      load_big: ["success", 1],
      load_small: ["skipped", 0],
      done: ["success", 1],
    });
    expect((await triesOf(env, run.id, "flaky")).map((t) => t.state)).toEqual(["failed", "success"]);
    expect(await xcomOf(env, run.id, "flaky")).toBe(6);
    expect(await xcomOf(env, run.id, "load_big")).toBe(12);
    expect(await xcomOf(env, run.id, "done")).toEqual({ label: "big" });
  });
});
