/**
 * The scheduler on PostgreSQL: branch, retries and XCom in one small DAG, on both dialects (the rest
 * of this folder runs on SQLite). PostgreSQL is required under UPDRAFT_REQUIRE_SERVICES=1.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { runDag } from "../helpers/run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { triesOf, xcomOf } from "./support.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe.each(DIALECTS)("branch, retries and XCom (%s)", (dialect) => {
  it("runs a branch, a retried task and XCom hand-over to success", async () => {
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
