/** Retries, author-control errors and execution timeouts, through real DAG files. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags, runDag, startScheduler, taskStates } from "../helpers/run.js";
import { processAlive, scratchDir, triesOf, waitFor } from "./support.js";

let env: TestEnv | undefined;
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
  for (const c of cleanups.splice(0)) c();
});

describe.each(DIALECTS)("retries (%s)", (dialect) => {
  it("a task that fails twice, then succeeds, ends success on its third try with three task_try rows", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "flaky.ts": `
          import { dag, task } from "updraft";
          const flaky = task({
            id: "flaky",
            retries: 2,
            retryDelay: "200ms",
            run: (_: void, ctx) => {
              if (ctx.tryNumber < 3) throw new Error("not yet, try " + ctx.tryNumber);
              return { tries: ctx.tryNumber, maxTries: ctx.maxTries };
            },
          });
          const after = task({ id: "after", run: (v: { tries: number }) => v.tries });
          export default dag({ id: "flaky" }, () => { after(flaky()); });
        `,
      },
    });
    const run = await runDag(env, "flaky");
    expect(run.state).toBe("success");
    expect(run.tasks.flaky).toMatchObject({ state: "success", tryNumber: 3 });
    expect(run.tasks.after).toMatchObject({ state: "success", tryNumber: 1 });
    const tries = await triesOf(env, run.id, "flaky");
    expect(tries.map((t) => [t.tryNumber, t.state])).toEqual([
      [1, "failed"],
      [2, "failed"],
      [3, "success"],
    ]);
    expect(tries[0]!.error).toMatchObject({ message: "not yet, try 1", retryable: true });
    expect(tries[1]!.error).toMatchObject({ message: "not yet, try 2" });
    expect(tries[2]!.error).toBeNull();
    // The fixed delay is honoured between tries.
    for (let i = 1; i < tries.length; i++) expect(tries[i]!.start! - tries[i - 1]!.end).toBeGreaterThanOrEqual(200);
    const out = await env.store.db.selectFrom("xcom").select(["task_id", "value"]).where("dag_run_id", "=", run.id).orderBy("task_id").execute();
    expect(out).toEqual([
      { task_id: "after", value: "3" },
      { task_id: "flaky", value: JSON.stringify({ tries: 3, maxTries: 3 }) },
    ]);
  });

  it("exponential backoff: the wait before each retry is at least retryDelay × 2^(try−1), and at least 1 s", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "backoff.ts": `
          import { dag, task } from "updraft";
          const slowToWork = task({
            id: "slow_to_work",
            retries: 3,
            retryDelay: "300ms",
            retryBackoff: "exponential",
            run: (_: void, ctx) => { if (ctx.tryNumber < 4) throw new Error("fail " + ctx.tryNumber); return "done"; },
          });
          export default dag({ id: "backoff" }, () => { slowToWork(); });
        `,
      },
    });
    const run = await runDag(env, "backoff");
    expect(run.state).toBe("success");
    const tries = await triesOf(env, run.id, "slow_to_work");
    expect(tries.map((t) => t.state)).toEqual(["failed", "failed", "failed", "success"]);
    const gaps = tries.slice(1).map((t, i) => t.start! - tries[i]!.end);
    // 300 ms and 600 ms are raised to Airflow's floor of 1 s; then 1.2 s.
    expect(gaps[0]).toBeGreaterThanOrEqual(1000);
    expect(gaps[1]).toBeGreaterThanOrEqual(1000);
    expect(gaps[2]).toBeGreaterThanOrEqual(1200);
  });

  it("retries exhausted: the task fails, its downstream is upstream_failed and the run fails", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "hopeless.ts": `
          import { dag, task } from "updraft";
          const hopeless = task({ id: "hopeless", retries: 1, retryDelay: "100ms", run: () => { throw new Error("always broken"); } });
          const next = task({ id: "next", run: () => "never" });
          const last = task({ id: "last", run: () => "never" });
          export default dag({ id: "hopeless" }, () => { last().after(next().after(hopeless())); });
        `,
      },
    });
    const run = await runDag(env, "hopeless");
    expect(run.state).toBe("failed");
    expect(run.tasks.hopeless).toMatchObject({ state: "failed", tryNumber: 2 });
    expect(run.tasks.next).toMatchObject({ state: "upstream_failed", tryNumber: 0 });
    expect(run.tasks.last).toMatchObject({ state: "upstream_failed", tryNumber: 0 });
    expect((await triesOf(env, run.id, "hopeless")).map((t) => [t.tryNumber, t.state, t.error?.message])).toEqual([
      [1, "failed", "always broken"],
      [2, "failed", "always broken"],
    ]);
    expect(await triesOf(env, run.id, "next")).toEqual([]);
  });
});

describe.each(DIALECTS)("author-control errors (%s)", (dialect) => {
  it("NonRetryableError fails the task at once, whatever retries remain", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "fatal.ts": `
          import { dag, task, NonRetryableError } from "updraft";
          const fatal = task({ id: "fatal", retries: 3, retryDelay: "100ms", run: () => { throw new NonRetryableError("report not found"); } });
          const next = task({ id: "next", run: () => 1 });
          export default dag({ id: "fatal" }, () => { next().after(fatal()); });
        `,
      },
    });
    const run = await runDag(env, "fatal");
    expect(run.state).toBe("failed");
    expect(run.tasks.fatal).toMatchObject({ state: "failed", tryNumber: 1 });
    expect(run.tasks.next!.state).toBe("upstream_failed");
    const tries = await triesOf(env, run.id, "fatal");
    expect(tries).toHaveLength(1);
    expect(tries[0]!.error).toMatchObject({ message: "report not found", retryable: false });
  });

  it("SkipError skips the task, its all_success downstream is skipped, and the run succeeds", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "skipper.ts": `
          import { dag, task, SkipError } from "updraft";
          const check = task({ id: "check", retries: 2, run: () => { throw new SkipError("nothing to load today"); } });
          const load = task({ id: "load", run: () => "loaded" });
          const report = task({ id: "report", run: () => "reported" });
          const other = task({ id: "other", run: () => "ran" });
          export default dag({ id: "skipper" }, () => { report().after(load().after(check())); other(); });
        `,
      },
    });
    const run = await runDag(env, "skipper");
    expect(run.state).toBe("success");
    expect(run.tasks.check).toMatchObject({ state: "skipped", tryNumber: 1 });
    expect(run.tasks.load).toMatchObject({ state: "skipped", tryNumber: 0 });
    expect(run.tasks.report).toMatchObject({ state: "skipped", tryNumber: 0 });
    expect(run.tasks.other!.state).toBe("success");
    expect((await triesOf(env, run.id, "check")).map((t) => t.state)).toEqual(["skipped"]);
  });
});

describe.each(DIALECTS)("executionTimeout (%s)", (dialect) => {
  it("kills a busy synchronous loop: each try fails with UPDRAFT_E_TASK_TIMEOUT and counts towards retries, its runner is killed, the run ends", async () => {
    env = await createTestEnv({
      dialect,
      config: { killGraceMs: "200ms" },
      dags: {
        "busy.ts": `
          import { dag, task } from "updraft";
          const spin = task({ id: "spin", executionTimeout: "1s", retries: 1, retryDelay: "100ms", run: () => { while (true) {} } });
          const next = task({ id: "next", run: () => 1 });
          export default dag({ id: "busy" }, () => { next().after(spin()); });
        `,
      },
    });
    await processDags(env);
    const trigger = await triggerDagRun(env.store, "busy");
    const s = await startScheduler(env);
    try {
      expect(await s.waitForRun(trigger.id)).toBe("failed");
      const tasks = await taskStates(env, trigger.id);
      expect(tasks.spin).toMatchObject({ state: "failed", tryNumber: 2 });
      expect(tasks.next!.state).toBe("upstream_failed");
      const tries = await triesOf(env, trigger.id, "spin");
      expect(tries.map((t) => [t.tryNumber, t.state, t.error?.code])).toEqual([
        [1, "failed", "UPDRAFT_E_TASK_TIMEOUT"],
        [2, "failed", "UPDRAFT_E_TASK_TIMEOUT"],
      ]);
      for (const t of tries) {
        expect(t.end - t.start!).toBeGreaterThanOrEqual(1000);
        // The runner that spun is killed after the grace period, while the scheduler goes on.
        expect(t.pid).not.toBeNull();
        await waitFor(`the runner of try ${t.tryNumber} to be killed`, () => !processAlive(t.pid!));
      }
      // The second try did not land on the runner still spinning with the first.
      expect(tries[1]!.pid).not.toBe(tries[0]!.pid);
    } finally {
      await s.stop();
    }
  });

  it("kills a bash task and the processes it started", async () => {
    const dir = scratchDir();
    cleanups.push(dir.remove);
    const pidFile = join(dir.path, "sleep.pid");
    env = await createTestEnv({
      dialect,
      config: { killGraceMs: "200ms" },
      dags: {
        "sleepy.ts": `
          import { dag, bash } from "updraft";
          export default dag({ id: "sleepy" }, () => {
            bash({ id: "nap", executionTimeout: "1s", command: ${JSON.stringify(`sleep 60 & echo $! > '${pidFile}'; wait`)} });
          });
        `,
      },
    });
    await processDags(env);
    const trigger = await triggerDagRun(env.store, "sleepy");
    const s = await startScheduler(env);
    try {
      expect(await s.waitForRun(trigger.id)).toBe("failed");
      const [only] = await triesOf(env, trigger.id, "nap");
      expect(only!.error?.code).toBe("UPDRAFT_E_TASK_TIMEOUT");
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      expect(pid).toBeGreaterThan(0);
      // Checked while the scheduler still runs: stopping it would kill every runner anyway.
      await waitFor("the bash task's sleep to be killed", () => !processAlive(pid));
    } finally {
      await s.stop();
    }
  });
});

describe.each(DIALECTS)("bash skip exit codes (Airflow's skip_on_exit_code) (%s)", (dialect) => {
  it("a code, a list or null; checked before success, so skipOnExitCode 0 skips a command that succeeds", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "skips.ts": `
          import { bash, dag } from "updraft";
          export default dag({ id: "skips" }, () => {
            bash({ id: "default_99", command: "exit 99" });
            bash({ id: "zero_skips", command: "echo done", skipOnExitCode: 0 });
            bash({ id: "listed", command: "exit 3", skipOnExitCode: [2, 3] });
            bash({ id: "not_listed", command: "exit 4", skipOnExitCode: [2, 3] });
            bash({ id: "none", command: "exit 99", skipOnExitCode: null });
            bash({ id: "ok", command: "echo fine", skipOnExitCode: [1] });
          });
        `,
      },
    });
    const run = await runDag(env, "skips");
    const states = Object.fromEntries(Object.entries(run.tasks).map(([id, t]) => [id, t.state]));
    expect(states).toEqual({ default_99: "skipped", zero_skips: "skipped", listed: "skipped", not_listed: "failed", none: "failed", ok: "success" });
  });

  it("a skip code that is not an exit code is an import error", async () => {
    env = await createTestEnv({ dialect, dags: { "bad_skip.ts": `import { bash, dag } from "updraft"; export default dag({ id: "bad_skip" }, () => { bash({ id: "b", command: "true", skipOnExitCode: [99, 256] }); });` } });
    await processDags(env);
    const error = await env.store.db.selectFrom("import_error").select(["message"]).executeTakeFirstOrThrow();
    expect(error.message).toMatch(/skipOnExitCode must be an exit code/);
  });
});

