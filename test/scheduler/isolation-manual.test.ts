/**
 * Crash isolation of runners, clearing and marking task instances, trigger rules that decide before
 * every upstream task is done, and how a run's state follows its leaves.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { clearTaskInstances, markTaskInstances } from "../../src/scheduler/manual-ops.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags, runDag, startScheduler, taskStates } from "../helpers/run.js";
import { allTries, dagRuns, logLines, triesOf, xcomOf } from "./support.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe.each(DIALECTS)("crash isolation (%s)", (dialect) => {
  it("a task that exits its process fails with UPDRAFT_E_RUNNER_CRASHED; the same scheduler then runs another DAG", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "crash.ts": `
          import { dag, task } from "updraft";
          const quit = task({ id: "quit", run: () => { process.exit(3); } });
          export default dag({ id: "crash" }, () => { quit(); });
        `,
        "healthy.ts": `
          import { dag, task } from "updraft";
          const one = task({ id: "one", run: () => 1 });
          const two = task({ id: "two", run: (n: number) => n + 1 });
          export default dag({ id: "healthy" }, () => { two(one()); });
        `,
      },
    });
    await processDags(env);
    const s = await startScheduler(env);
    try {
      const crash = await triggerDagRun(env.store, "crash");
      expect(await s.waitForRun(crash.id)).toBe("failed");
      const [only] = await triesOf(env, crash.id, "quit");
      expect(only!.error?.code).toBe("UPDRAFT_E_RUNNER_CRASHED");
      expect(only!.error!.message).toContain("code 3");

      const healthy = await triggerDagRun(env.store, "healthy");
      expect(await s.waitForRun(healthy.id)).toBe("success");
      const tasks = await taskStates(env, healthy.id);
      expect([tasks.one!.state, tasks.two!.state]).toEqual(["success", "success"]);
    } finally {
      await s.stop();
    }
  });

  it("a task that allocates beyond runnerMemoryLimitMb fails with UPDRAFT_E_RUNNER_MEMORY; the other tasks are unharmed", async () => {
    env = await createTestEnv({
      dialect,
      config: { runnerMemoryLimitMb: "128MB", killGraceMs: "200ms" },
      dags: {
        "hog.ts": `
          import { dag, task } from "updraft";
          const hog = task({
            id: "hog",
            run: async () => {
              const kept: Buffer[] = [];
              for (;;) { kept.push(Buffer.alloc(16 * 1024 * 1024, 1)); await new Promise((r) => setTimeout(r, 10)); }
            },
          });
          const heap = task({
            id: "heap",
            run: () => { const kept: number[][] = []; for (;;) kept.push(new Array(100_000).fill(Math.random())); },
          });
          const fine = task({ id: "fine", run: () => "fine" });
          const after = task({ id: "after", triggerRule: "all_done", run: () => "after" });
          export default dag({ id: "hog" }, () => { after().after(hog(), heap(), fine()); });
        `,
      },
    });
    const run = await runDag(env, "hog");
    expect(run.state).toBe("success"); // its only leaf, 'after', succeeds (all_done)
    expect(run.tasks.hog!.state).toBe("failed");
    expect(run.tasks.heap!.state).toBe("failed");
    expect(run.tasks.fine!.state).toBe("success");
    expect(run.tasks.after!.state).toBe("success");
    for (const taskId of ["hog", "heap"]) {
      const [only] = await triesOf(env, run.id, taskId);
      expect(only!.error?.code, `${taskId}: ${only!.error?.message}`).toBe("UPDRAFT_E_RUNNER_MEMORY");
      expect(only!.error!.message).toContain("128 MB");
    }
  });
});

describe.each(DIALECTS)("secrets withheld from task processes (%s)", (dialect) => {
  it("the database URL, signing key, secret key and broker URL in the scheduler's environment do not reach task code or bash", async () => {
    const names = ["UPDRAFT_DATABASE_URL", "UPDRAFT_JWT_SECRET", "UPDRAFT_SECRET_KEY", "UPDRAFT_BROKER_URL"] as const;
    const saved = names.map((n) => process.env[n]);
    env = await createTestEnv({
      dialect,
      dags: {
        "peek.ts": `
          import { bash, dag, task } from "updraft";
          const names = ["UPDRAFT_DATABASE_URL", "UPDRAFT_JWT_SECRET", "UPDRAFT_SECRET_KEY", "UPDRAFT_BROKER_URL", "PEEK_CONTROL"];
          const js = task({ id: "js", run: () => names.map((n) => process.env[n] ?? null) });
          export default dag({ id: "peek" }, () => {
            js();
            bash({ id: "sh", command: 'echo "[$UPDRAFT_SECRET_KEY|$UPDRAFT_JWT_SECRET|$PEEK_CONTROL]"' });
          });
        `,
      },
    });
    for (const n of names) process.env[n] = `secret-${n}`;
    process.env.PEEK_CONTROL = "visible";
    try {
      const run = await runDag(env, "peek");
      expect(run.state).toBe("success");
      expect(await xcomOf(env, run.id, "js")).toEqual([null, null, null, null, "visible"]);
      const lines = (await logLines(env, run.tasks.sh!.id, 1)).map((l) => l.message);
      expect(lines).toContain("[||visible]");
    } finally {
      names.forEach((n, i) => (saved[i] === undefined ? delete process.env[n] : (process.env[n] = saved[i])));
      delete process.env.PEEK_CONTROL;
    }
  });
});

describe.each(DIALECTS)("clearing and marking (%s)", (dialect) => {
  it("clearing a failed task with its downstream, once it is fixed, runs both again and the run ends success", async () => {
    env = await createTestEnv({ dialect });
    const flag = join(env.home, "fixed.flag");
    env.writeDag(
      "fixable.ts",
      `
        import { existsSync } from "node:fs";
        import { dag, task } from "updraft";
        const fixable = task({ id: "fixable", run: (_: void, ctx) => {
          if (!existsSync(${JSON.stringify(flag)})) throw new Error("not fixed yet");
          return "fixed on try " + ctx.tryNumber;
        } });
        const downstream = task({ id: "downstream", run: (v: string) => v + "!" });
        const unrelated = task({ id: "unrelated", run: () => "ran once" });
        export default dag({ id: "fixable" }, () => { downstream(fixable()); unrelated(); });
      `,
    );
    const first = await runDag(env, "fixable");
    expect(first.state).toBe("failed");
    expect(first.tasks.fixable).toMatchObject({ state: "failed", tryNumber: 1 });
    expect(first.tasks.downstream!.state).toBe("upstream_failed");

    writeFileSync(flag, "yes");
    const cleared = await clearTaskInstances(env.store, "fixable", first.runId, { taskIds: ["fixable"], downstream: true });
    expect(cleared.map((c) => c.taskId).sort()).toEqual(["downstream", "fixable"]);
    expect((await dagRuns(env, "fixable"))[0]!.state).toBe("queued");

    const s = await startScheduler(env);
    try {
      expect(await s.waitForRun(first.id)).toBe("success");
    } finally {
      await s.stop();
    }
    const tasks = await taskStates(env, first.id);
    expect(tasks.fixable).toMatchObject({ state: "success", tryNumber: 2 });
    expect(tasks.downstream).toMatchObject({ state: "success", tryNumber: 1 });
    expect(tasks.unrelated).toMatchObject({ state: "success", tryNumber: 1 });
    expect((await triesOf(env, first.id, "fixable")).map((t) => [t.tryNumber, t.state])).toEqual([
      [1, "failed"],
      [2, "success"],
    ]);
    const out = await env.store.db.selectFrom("xcom").select("value").where("dag_run_id", "=", first.id).where("task_id", "=", "downstream").executeTakeFirst();
    expect(out?.value).toBe(JSON.stringify("fixed on try 2!"));
    expect(await dagRuns(env, "fixable")).toHaveLength(1);
  });

  it("marking a failed leaf success makes the run success", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "markme.ts": `
          import { dag, task } from "updraft";
          const ok = task({ id: "ok", run: () => 1 });
          const leaf = task({ id: "leaf", run: () => { throw new Error("broken leaf"); } });
          export default dag({ id: "markme" }, () => { leaf().after(ok()); });
        `,
      },
    });
    const first = await runDag(env, "markme");
    expect(first.state).toBe("failed");
    const marked = await markTaskInstances(env.store, "markme", first.runId, ["leaf"], "success");
    expect(marked).toEqual([{ taskId: "leaf", state: "failed" }]);
    const s = await startScheduler(env);
    try {
      expect(await s.waitForRun(first.id)).toBe("success");
    } finally {
      await s.stop();
    }
    const tasks = await taskStates(env, first.id);
    expect(tasks.leaf).toMatchObject({ state: "success", tryNumber: 1 });
    expect(tasks.ok!.state).toBe("success");
  });
});

describe.each(DIALECTS)("run state follows the leaves (%s)", (dialect) => {
  it("a failed task that is not a leaf, with an all_done leaf that succeeds: the run succeeds", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "cleanup.ts": `
          import { dag, task } from "updraft";
          const work = task({ id: "work", run: () => { throw new Error("work failed"); } });
          const cleanup = task({ id: "cleanup", triggerRule: "all_done", run: () => "cleaned" });
          export default dag({ id: "cleanup" }, () => { cleanup().after(work()); });
        `,
      },
    });
    const run = await runDag(env, "cleanup");
    expect(run.tasks.work!.state).toBe("failed");
    expect(run.tasks.cleanup!.state).toBe("success");
    expect(run.state).toBe("success");
  });

  it("a failed leaf fails the run even when the other leaves succeed", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "leafy.ts": `
          import { dag, task } from "updraft";
          const root = task({ id: "root", run: () => 1 });
          const good = task({ id: "good", run: () => 2 });
          const bad = task({ id: "bad", run: () => { throw new Error("bad leaf"); } });
          export default dag({ id: "leafy" }, () => { const r = root(); good().after(r); bad().after(r); });
        `,
      },
    });
    const run = await runDag(env, "leafy");
    expect(run.tasks.good!.state).toBe("success");
    expect(run.tasks.bad!.state).toBe("failed");
    expect(run.state).toBe("failed");
  });
});

describe.each(DIALECTS)("trigger rules that decide early, end to end (%s)", (dialect) => {
  it("one_success and one_failed run as soon as one upstream task ended so; all_done waits for the slow one", async () => {
    env = await createTestEnv({ dialect, config: { warmRunners: 3 } });
    const marks = JSON.stringify(env.home);
    // 'slow' ends only once both early tasks have started (they leave marker files), so that they
    // start before it ends however slowly runners start on a busy machine. Were an early rule to
    // wait for 'slow', 'slow' would give up waiting after 20 s and the checks below would fail.
    env.writeDag(
      "early.ts",
      `
        import { existsSync, writeFileSync } from "node:fs";
        import { join } from "node:path";
        import { dag, task } from "updraft";
        const mark = (name: string) => writeFileSync(join(${marks}, name), "");
        const marked = (name: string) => existsSync(join(${marks}, name));
        const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
        const fast = task({ id: "fast", run: () => "fast" });
        const boom = task({ id: "boom", run: () => { throw new Error("boom"); } });
        const slow = task({ id: "slow", run: async () => {
          const end = Date.now() + 20_000;
          while (!(marked("any_success") && marked("any_failed")) && Date.now() < end) await sleep(20);
          return "slow";
        } });
        const anySuccess = task({ id: "any_success", triggerRule: "one_success", run: () => { mark("any_success"); return "ran"; } });
        const anyFailed = task({ id: "any_failed", triggerRule: "one_failed", run: () => { mark("any_failed"); return "ran"; } });
        const everyOne = task({ id: "every_one", triggerRule: "all_done", run: () => "ran" });
        export default dag({ id: "early" }, () => {
          const s = slow();
          const f = fast();
          const b = boom();
          anySuccess().after(s, f);
          anyFailed().after(s, b);
          everyOne().after(s, f, b);
        });
      `,
    );
    const run = await runDag(env, "early");
    expect(run.state).toBe("success");
    for (const id of ["fast", "slow", "any_success", "any_failed", "every_one"]) expect(run.tasks[id]!.state, id).toBe("success");
    expect(run.tasks.boom!.state).toBe("failed");
    const tries = new Map((await allTries(env, run.id)).map((t) => [t.taskId, t]));
    const slowEnd = tries.get("slow")!.end;
    expect(tries.get("any_success")!.start!).toBeLessThan(slowEnd);
    expect(tries.get("any_failed")!.start!).toBeLessThan(slowEnd);
    // Times are whole milliseconds, and every_one is decided in the tick that records slow's end:
    // it may start within the same millisecond, never before.
    expect(tries.get("every_one")!.start!).toBeGreaterThanOrEqual(slowEnd);
  });
});
