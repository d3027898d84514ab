/** Scheduled runs (catchup, maxActiveRuns) and concurrency limits (maxActiveTasks, pools, parallelism, priority). */
import { afterEach, describe, expect, it } from "vitest";
import { setPool } from "../../src/store/pools.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags, runDag, startScheduler } from "../helpers/run.js";
import { allTries, dagRuns, maxOverlap, waitFor } from "./support.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const HOUR = 3_600_000;

/** A DAG scheduled every hour, starting 5½ hours ago, so exactly five hourly intervals have ended. */
function hourlySource(dagId: string, options: { catchup: boolean; maxActiveRuns?: number; sleepMs?: number }): { source: string; startDate: number } {
  const startDate = Date.now() - 5 * HOUR - HOUR / 2;
  const source = `
    import { dag, task } from "updraft";
    const work = task({ id: "work", run: async () => { await new Promise((r) => setTimeout(r, ${options.sleepMs ?? 0})); return "done"; } });
    export default dag(
      { id: ${JSON.stringify(dagId)}, schedule: { every: "1h" }, startDate: ${startDate}, catchup: ${options.catchup}${options.maxActiveRuns ? `, maxActiveRuns: ${options.maxActiveRuns}` : ""} },
      () => { work(); },
    );
  `;
  return { source, startDate };
}

describe.each(DIALECTS)("scheduled runs (%s)", (dialect) => {
  it("catchup true creates a run for every interval since startDate, contiguous, logical date = interval start", async () => {
    const { source, startDate } = hourlySource("hourly_catchup", { catchup: true });
    env = await createTestEnv({ dialect, dags: { "hourly.ts": source } });
    await processDags(env);
    const s = await startScheduler(env);
    try {
      const runs = await waitFor("five finished scheduled runs", async () => {
        const all = await dagRuns(env!, "hourly_catchup");
        return all.length >= 5 && all.every((r) => r.state === "success") ? all : undefined;
      });
      expect(runs).toHaveLength(5);
      expect(runs.every((r) => r.runType === "scheduled")).toBe(true);
      expect(runs[0]!.start).toBe(startDate);
      runs.forEach((r, i) => {
        expect(r.start, `run ${i} start`).toBe(startDate + i * HOUR);
        expect(r.end, `run ${i} end`).toBe(r.start + HOUR);
        expect(r.logicalDate, `run ${i} logical date`).toBe(r.start);
        if (i > 0) expect(r.start, `run ${i} follows run ${i - 1}`).toBe(runs[i - 1]!.end);
      });
      // The latest interval ends before now; the next one has not ended yet.
      expect(runs[4]!.end).toBeLessThanOrEqual(Date.now());
      expect(runs[4]!.end + HOUR).toBeGreaterThan(Date.now());
    } finally {
      await s.stop();
    }
  });

  it("catchup false creates only the latest complete interval's run", async () => {
    const { source, startDate } = hourlySource("hourly_latest", { catchup: false });
    env = await createTestEnv({ dialect, dags: { "hourly.ts": source } });
    await processDags(env);
    const s = await startScheduler(env);
    try {
      const runs = await waitFor("a finished scheduled run", async () => {
        const all = await dagRuns(env!, "hourly_latest");
        return all.length >= 1 && all.every((r) => r.state === "success") ? all : undefined;
      });
      // The run ended; the next full pass creates whatever runs are due: none of the older intervals.
      await s.scheduler.pass();
      const after = await dagRuns(env, "hourly_latest");
      expect(after).toHaveLength(1);
      expect(runs[0]).toMatchObject({ start: startDate + 4 * HOUR, end: startDate + 5 * HOUR, logicalDate: startDate + 4 * HOUR, runType: "scheduled" });
    } finally {
      await s.stop();
    }
  });

  it("maxActiveRuns 1: catchup runs one after another, never overlapping", async () => {
    const { source } = hourlySource("one_at_a_time", { catchup: true, maxActiveRuns: 1, sleepMs: 150 });
    env = await createTestEnv({ dialect, dags: { "serial.ts": source } });
    await processDags(env);
    const s = await startScheduler(env);
    try {
      const runs = await waitFor("five finished runs", async () => {
        const all = await dagRuns(env!, "one_at_a_time");
        return all.length >= 5 && all.every((r) => r.state === "success") ? all : undefined;
      });
      expect(runs).toHaveLength(5);
      const spans = runs.map((r) => ({ start: r.startDate!, end: r.endDate! }));
      expect(maxOverlap(spans)).toBe(1);
      // Oldest logical date first.
      const byStart = [...runs].sort((a, b) => a.startDate! - b.startDate!);
      expect(byStart.map((r) => r.logicalDate)).toEqual(runs.map((r) => r.logicalDate));
    } finally {
      await s.stop();
    }
  });
});

describe.each(DIALECTS)("concurrency limits (%s)", (dialect) => {
  it("maxActiveTasks 2: of six parallel tasks, at most two run at once", async () => {
    env = await createTestEnv({
      dialect,
      config: { warmRunners: 3 },
      dags: {
        "wide.ts": `
          import { dag, task } from "updraft";
          const nap = task({ id: "nap", run: async () => { await new Promise((r) => setTimeout(r, 300)); return 1; } });
          export default dag({ id: "wide", maxActiveTasks: 2 }, () => { for (let i = 0; i < 6; i++) nap(); });
        `,
      },
    });
    const run = await runDag(env, "wide");
    expect(run.state).toBe("success");
    const tries = await allTries(env, run.id);
    expect(tries).toHaveLength(6);
    expect(maxOverlap(tries.map((t) => ({ start: t.start!, end: t.end })))).toBeLessThanOrEqual(2);
  });

  it("a pool with one slot: its tasks never overlap, while tasks outside it still run", async () => {
    env = await createTestEnv({
      dialect,
      config: { warmRunners: 3 },
      dags: {
        "pooled.ts": `
          import { dag, task } from "updraft";
          const nap = task({ id: "nap", run: async () => { await new Promise((r) => setTimeout(r, 200)); return 1; } });
          export default dag({ id: "pooled" }, () => {
            for (let i = 0; i < 4; i++) nap(undefined, { id: "in_pool_" + i, pool: "single" });
            nap(undefined, { id: "free" });
          });
        `,
      },
    });
    await setPool(env.store.db, "single", 1, "one at a time");
    const run = await runDag(env, "pooled");
    expect(run.state).toBe("success");
    const tries = await allTries(env, run.id);
    const pooled = tries.filter((t) => t.taskId.startsWith("in_pool_"));
    expect(pooled).toHaveLength(4);
    expect(maxOverlap(pooled.map((t) => ({ start: t.start!, end: t.end })))).toBe(1);
    expect(tries.find((t) => t.taskId === "free")?.state).toBe("success");
    const rows = await env.store.db.selectFrom("task_instance").select(["task_id", "pool"]).where("dag_run_id", "=", run.id).orderBy("task_id").execute();
    expect(rows.filter((r) => r.pool === "single").map((r) => r.task_id)).toEqual(["in_pool_0", "in_pool_1", "in_pool_2", "in_pool_3"]);
  });

  it("parallelism 1: ready tasks start in order of priorityWeight, highest first", async () => {
    env = await createTestEnv({
      dialect,
      config: { parallelism: 1 },
      dags: {
        "weights.ts": `
          import { dag, task } from "updraft";
          const step = task({ id: "step", run: () => 1 });
          export default dag({ id: "weights" }, () => {
            step(undefined, { id: "w1", priorityWeight: 1 });
            step(undefined, { id: "w5", priorityWeight: 5 });
            step(undefined, { id: "w10", priorityWeight: 10 });
            step(undefined, { id: "w3", priorityWeight: 3 });
            step(undefined, { id: "w7", priorityWeight: 7 });
          });
        `,
      },
    });
    const run = await runDag(env, "weights");
    expect(run.state).toBe("success");
    const tries = await allTries(env, run.id);
    expect(tries.map((t) => t.taskId)).toEqual(["w10", "w7", "w5", "w3", "w1"]);
    expect(maxOverlap(tries.map((t) => ({ start: t.start!, end: t.end })))).toBe(1);
  });

  it("the downstream weight rule starts the head of a long chain before a heavier lone task", async () => {
    env = await createTestEnv({
      dialect,
      config: { parallelism: 1 },
      dags: {
        "chain_first.ts": `
          import { dag, task, chain } from "updraft";
          const step = task({ id: "step", run: () => 1 });
          export default dag({ id: "chain_first" }, () => {
            // head's effective weight is 1 + 1 + 1 + 1 = 4 (itself and three downstream tasks) > lone's 3.
            const head = step(undefined, { id: "head" });
            chain(head, step(undefined, { id: "c2" }), step(undefined, { id: "c3" }), step(undefined, { id: "c4" }));
            step(undefined, { id: "lone", priorityWeight: 3 });
          });
        `,
      },
    });
    const run = await runDag(env, "chain_first");
    expect(run.state).toBe("success");
    const tries = await allTries(env, run.id);
    expect(tries[0]!.taskId).toBe("head");
  });
});
