/**
 * Scheduler semantics through real DAG files: pause, version pinning of runs, ctx.signal on an
 * execution timeout, zombie hand-back of a dead scheduler's tries, tries interrupted at shutdown,
 * and progress that does not wait for the backstop poll.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { openStore } from "../../src/store/connect.js";
import { setPaused } from "../../src/store/dags.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags, startScheduler, taskStates, type RunningScheduler } from "../helpers/run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { dagRuns, logLines, scratchDir, triesOf, waitFor, xcomOf } from "./support.js";

let env: TestEnv | undefined;
let running: RunningScheduler | undefined;
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await env?.cleanup();
  env = undefined;
  for (const c of cleanups.splice(0)) c();
});

const HOUR = 3_600_000;

function scratch(): string {
  const dir = scratchDir();
  cleanups.push(dir.remove);
  return dir.path;
}

async function taskInstance(e: TestEnv, dagRunId: number, taskId: string) {
  return e.store.db.selectFrom("task_instance").selectAll().where("dag_run_id", "=", dagRunId).where("task_id", "=", taskId).executeTakeFirstOrThrow();
}

async function runRow(e: TestEnv, dagRunId: number) {
  return e.store.db.selectFrom("dag_run").selectAll().where("id", "=", dagRunId).executeTakeFirstOrThrow();
}

/** DAG source text for a task body that waits (at most 30 s) until `file` exists. */
const waitForFileJs = (file: string) =>
  `await (async () => { const end = Date.now() + 30_000; while (!existsSync(${JSON.stringify(file)}) && Date.now() < end) await new Promise((r) => setTimeout(r, 25)); })();`;

describe.each(DIALECTS)("pause (%s)", (dialect) => {
  it("a paused scheduled DAG gets no runs; once unpaused, its catchup runs are created and succeed", async () => {
    const startDate = Date.now() - 3 * HOUR - HOUR / 2;
    env = await createTestEnv({
      dialect,
      dags: {
        "paused_hourly.ts": `
          import { dag, task } from "updraft";
          const work = task({ id: "work", run: () => "done" });
          export default dag({ id: "paused_hourly", schedule: { every: "1h" }, startDate: ${startDate}, catchup: true }, () => { work(); });
        `,
      },
    });
    await processDags(env);
    await setPaused(env.store, "paused_hourly", true);
    running = await startScheduler(env);
    // A full pass would create the catchup runs of an unpaused DAG.
    await running.scheduler.pass();
    expect(await dagRuns(env, "paused_hourly")).toEqual([]);

    await setPaused(env.store, "paused_hourly", false);
    running.scheduler.requestPass();
    const runs = await waitFor("three finished scheduled runs", async () => {
      const all = await dagRuns(env!, "paused_hourly");
      return all.length >= 3 && all.every((r) => r.state === "success") ? all : undefined;
    });
    expect(runs.map((r) => [r.runType, r.start])).toEqual([
      ["scheduled", startDate],
      ["scheduled", startDate + HOUR],
      ["scheduled", startDate + 2 * HOUR],
    ]);
  });

  it("a manual run of a paused DAG stays queued, its tasks untouched; after unpause it runs to success", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "paused_manual.ts": `
          import { dag, task } from "updraft";
          const first = task({ id: "first", run: () => 1 });
          const second = task({ id: "second", run: (n: number) => n + 1 });
          export default dag({ id: "paused_manual" }, () => { second(first()); });
        `,
      },
    });
    await processDags(env);
    await setPaused(env.store, "paused_manual", true);
    const trigger = await triggerDagRun(env.store, "paused_manual");
    expect(trigger.paused).toBe(true);
    running = await startScheduler(env);
    // A full pass would start the queued run of an unpaused DAG and queue its first task.
    await running.scheduler.pass();
    const held = await runRow(env, trigger.id);
    expect(held.state).toBe("queued");
    expect(held.start_date).toBeNull();
    expect(Object.values(await taskStates(env, trigger.id)).map((t) => [t.state, t.tryNumber])).toEqual([
      ["none", 0],
      ["none", 0],
    ]);
    expect(await triesOf(env, trigger.id, "first")).toEqual([]);

    await setPaused(env.store, "paused_manual", false);
    running.scheduler.requestPass();
    expect(await running.waitForRun(trigger.id)).toBe("success");
    expect(await xcomOf(env, trigger.id, "second")).toBe(2);
  });
});

describe.each(DIALECTS)("pause while a run is in progress (%s)", (dialect) => {
  it("the running task finishes, but no further task starts until the DAG is unpaused", async () => {
    const dir = scratch();
    const go = join(dir, "go");
    env = await createTestEnv({
      dialect,
      dags: {
        "pause_mid.ts": `
          import { existsSync } from "node:fs";
          import { dag, task } from "updraft";
          const slow = task({ id: "slow", run: async () => { ${waitForFileJs(go)} return "slow done"; } });
          const after = task({ id: "after", run: (s: string) => s + ", after done" });
          export default dag({ id: "pause_mid" }, () => { after(slow()); });
        `,
      },
    });
    await processDags(env);
    const trigger = await triggerDagRun(env.store, "pause_mid");
    running = await startScheduler(env);
    await waitFor("slow to run", async () => (await taskInstance(env!, trigger.id, "slow")).state === "running");
    await setPaused(env.store, "pause_mid", true);
    running.scheduler.requestPass();
    writeFileSync(go, "");
    await waitFor("slow to succeed", async () => (await taskInstance(env!, trigger.id, "slow")).state === "success");
    // The tick that stored slow's success decided its downstream task; one more full pass would
    // have dispatched it, were the DAG not paused.
    await running.scheduler.pass();
    const waiting = await taskInstance(env, trigger.id, "after");
    expect(waiting.state).toBe("scheduled");
    expect(waiting.try_number).toBe(0);
    expect((await runRow(env, trigger.id)).state).toBe("running");

    await setPaused(env.store, "pause_mid", false);
    running.scheduler.requestPass();
    expect(await running.waitForRun(trigger.id)).toBe("success");
    expect(await xcomOf(env, trigger.id, "after")).toBe("slow done, after done");
  });
});

describe.each(DIALECTS)("version pinning (%s)", (dialect) => {
  it("a run keeps the code of the version it was created from after the file changes; a new run uses the new version", async () => {
    const dir = scratch();
    const started = join(dir, "a-started");
    const go = join(dir, "go");
    const source = (label: string) => `
      import { existsSync, writeFileSync } from "node:fs";
      import { dag, task } from "updraft";
      const a = task({ id: "a", run: async () => {
        writeFileSync(${JSON.stringify(started)}, ${JSON.stringify(label)});
        ${waitForFileJs(go)}
        return "a-" + ${JSON.stringify(label)};
      } });
      const b = task({ id: "b", run: (fromA: string) => ({ b: ${JSON.stringify(label)}, fromA }) });
      export default dag({ id: "pinned" }, () => { b(a()); });
    `;
    env = await createTestEnv({ dialect, dags: { "pinned.ts": source("v1") } });
    await processDags(env);
    const first = await triggerDagRun(env.store, "pinned");
    running = await startScheduler(env);
    await waitFor("task a of the first run to start", () => existsSync(started));

    // While a runs (it waits for `go`), the file changes and is processed again: version 2.
    env.writeDag("pinned.ts", source("v2"));
    await processDags(env);
    const versions = await env.store.db.selectFrom("dag_version").select(["id", "version_number", "created_at"]).where("dag_id", "=", "pinned").orderBy("version_number").execute();
    expect(versions.map((v) => v.version_number)).toEqual([1, 2]);
    const [v1, v2] = versions;
    const dagRow = await env.store.db.selectFrom("dag").select("latest_version_id").where("dag_id", "=", "pinned").executeTakeFirstOrThrow();
    expect(Number(dagRow.latest_version_id)).toBe(Number(v2!.id));
    writeFileSync(go, "");

    expect(await running.waitForRun(first.id)).toBe("success");
    expect(Number((await runRow(env, first.id)).dag_version_id)).toBe(Number(v1!.id));
    expect(await xcomOf(env, first.id, "b")).toEqual({ b: "v1", fromA: "a-v1" });
    // b started after version 2 existed, and still ran version 1's code.
    const [bTry] = await triesOf(env, first.id, "b");
    expect(bTry!.start!).toBeGreaterThanOrEqual(Number(v2!.created_at));

    const second = await triggerDagRun(env.store, "pinned");
    running.scheduler.requestPass();
    expect(await running.waitForRun(second.id)).toBe("success");
    expect(Number((await runRow(env, second.id)).dag_version_id)).toBe(Number(v2!.id));
    expect(readFileSync(started, "utf8")).toBe("v2");
    expect(await xcomOf(env, second.id, "b")).toEqual({ b: "v2", fromA: "a-v2" });
  });

  it("a run queued from version 1 runs version 1's code even when the scheduler first sees it after version 2 exists", async () => {
    const source = (label: string) => `
      import { dag, task } from "updraft";
      const a = task({ id: "a", run: () => ${JSON.stringify(label)} });
      export default dag({ id: "pinned_queued" }, () => { a(); });
    `;
    env = await createTestEnv({ dialect, dags: { "pinned_queued.ts": source("v1") } });
    await processDags(env);
    const early = await triggerDagRun(env.store, "pinned_queued");
    env.writeDag("pinned_queued.ts", source("v2"));
    await processDags(env);
    const late = await triggerDagRun(env.store, "pinned_queued");
    const versions = await env.store.db.selectFrom("dag_version").select(["id", "version_number"]).where("dag_id", "=", "pinned_queued").orderBy("version_number").execute();
    expect(versions.map((v) => v.version_number)).toEqual([1, 2]);
    running = await startScheduler(env);
    expect(await running.waitForRun(early.id)).toBe("success");
    expect(await running.waitForRun(late.id)).toBe("success");
    expect(Number((await runRow(env, early.id)).dag_version_id)).toBe(Number(versions[0]!.id));
    expect(Number((await runRow(env, late.id)).dag_version_id)).toBe(Number(versions[1]!.id));
    expect(await xcomOf(env, early.id, "a")).toBe("v1");
    expect(await xcomOf(env, late.id, "a")).toBe("v2");
  });
});

describe.each(DIALECTS)("ctx.signal (%s)", (dialect) => {
  it("fires on executionTimeout with the reason; the task's abort handler runs and logs, and the try still fails with UPDRAFT_E_TASK_TIMEOUT", async () => {
    const marker = join(scratch(), "aborted.txt");
    env = await createTestEnv({
      dialect,
      config: { killGraceMs: "2s" },
      dags: {
        "signalled.ts": `
          import { writeFileSync } from "node:fs";
          import { dag, task } from "updraft";
          const patient = task({ id: "patient", executionTimeout: "1s", run: async (_: void, ctx) => {
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
            const reason = String(ctx.signal.reason);
            ctx.log.info("cleaning up after abort: " + reason);
            writeFileSync(${JSON.stringify(marker)}, reason);
            return "finished anyway";
          } });
          export default dag({ id: "signalled" }, () => { patient(); });
        `,
      },
    });
    await processDags(env);
    const trigger = await triggerDagRun(env.store, "signalled");
    running = await startScheduler(env);
    expect(await running.waitForRun(trigger.id)).toBe("failed");
    await waitFor("the abort handler's marker file", () => existsSync(marker));
    expect(readFileSync(marker, "utf8")).toMatch(/execution ?timeout/i);
    const tis = await taskStates(env, trigger.id);
    const tiId = tis.patient!.id;
    // What the abort handler logs after the try ended is still kept in the try's log.
    const lines = await waitFor("the abort handler's log line", async () => {
      const all = await logLines(env!, tiId, 1);
      return all.some((l) => l.message.includes("cleaning up after abort")) ? all : undefined;
    });
    expect(lines.find((l) => l.message.includes("cleaning up after abort"))!.message).toMatch(/execution ?timeout/i);
    // The late return does not turn the try into a success.
    expect((await taskStates(env, trigger.id)).patient).toMatchObject({ state: "failed", tryNumber: 1 });
    const tries = await triesOf(env, trigger.id, "patient");
    expect(tries.map((t) => [t.tryNumber, t.state, t.error?.code])).toEqual([[1, "failed", "UPDRAFT_E_TASK_TIMEOUT"]]);
    expect(await xcomOf(env, trigger.id, "patient")).toBeUndefined();
  });
});

describe.each(DIALECTS)("zombies (%s)", (dialect) => {
  const ZOMBIE_CONFIG = { zombieThresholdMs: "2s", heartbeatIntervalMs: "500ms", schedulerPollIntervalMs: "200ms" };
  const SOURCE = `
    import { dag, task } from "updraft";
    const lost = task({ id: "lost", retries: 1, retryDelay: "200ms", run: (_: void, ctx) => ({ try: ctx.tryNumber }) });
    const waiting = task({ id: "waiting", run: (_: void, ctx) => ({ try: ctx.tryNumber }) });
    export default dag({ id: "zombie_dag" }, () => { lost(); waiting(); });
  `;

  async function insertJob(e: TestEnv, heartbeatAt: number): Promise<number> {
    const row = await e.store.db
      .insertInto("job")
      .values({ kind: "scheduler", hostname: "some-other-host", pid: 1, state: "running", started_at: heartbeatAt - 60_000, heartbeat_at: heartbeatAt })
      .returning("id")
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  /** A run that another scheduler (`jobId`) started: `lost` running its first try, `waiting` queued. */
  async function runOwnedBy(e: TestEnv, jobId: number): Promise<number> {
    const trigger = await triggerDagRun(e.store, "zombie_dag");
    const now = Date.now();
    await e.store.db.updateTable("dag_run").set({ state: "running", start_date: now - 2_000 }).where("id", "=", trigger.id).execute();
    await e.store.db
      .updateTable("task_instance")
      .set({ state: "running", try_number: 1, try_id: "x.1", job_id: jobId, queued_at: now - 1_500, start_date: now - 1_000, hostname: "some-other-host", pid: 1 })
      .where("dag_run_id", "=", trigger.id)
      .where("task_id", "=", "lost")
      .execute();
    await e.store.db
      .updateTable("task_instance")
      .set({ state: "queued", try_number: 1, try_id: "y.1", job_id: jobId, queued_at: now - 1_000 })
      .where("dag_run_id", "=", trigger.id)
      .where("task_id", "=", "waiting")
      .execute();
    return trigger.id;
  }

  it("a dead scheduler's running try fails as a zombie and is retried; its queued try goes back to scheduled without a try row", async () => {
    env = await createTestEnv({ dialect, config: ZOMBIE_CONFIG, dags: { "zombie.ts": SOURCE } });
    await processDags(env);
    const jobId = await insertJob(env, Date.now() - 10 * 60_000);
    const dagRunId = await runOwnedBy(env, jobId);
    running = await startScheduler(env);
    expect(await running.waitForRun(dagRunId)).toBe("success");

    const job = await env.store.db.selectFrom("job").selectAll().where("id", "=", jobId).executeTakeFirstOrThrow();
    expect(job.state).toBe("dead");
    expect(job.stopped_at).not.toBeNull();

    const tasks = await taskStates(env, dagRunId);
    expect(tasks.lost).toMatchObject({ state: "success", tryNumber: 2 });
    const lostTries = await triesOf(env, dagRunId, "lost");
    expect(lostTries.map((t) => [t.tryNumber, t.state, t.error?.code ?? null])).toEqual([
      [1, "failed", "UPDRAFT_E_ZOMBIE"],
      [2, "success", null],
    ]);
    expect(lostTries[0]!.error?.retryable).toBe(true);
    expect(lostTries[0]!.pid).toBe(1);
    const tryRow = await env.store.db.selectFrom("task_try").select("try_id").where("ti_id", "=", tasks.lost!.id).where("try_number", "=", 1).executeTakeFirstOrThrow();
    expect(tryRow.try_id).toBe("x.1");
    expect((await logLines(env, tasks.lost!.id, 1)).some((l) => l.level === "error" && /zombie/i.test(l.message))).toBe(true);
    expect(await xcomOf(env, dagRunId, "lost")).toEqual({ try: 2 });

    // The queued try never started: no history row, and the task ran as its first try.
    expect(tasks.waiting).toMatchObject({ state: "success", tryNumber: 1 });
    expect((await triesOf(env, dagRunId, "waiting")).map((t) => [t.tryNumber, t.state])).toEqual([[1, "success"]]);
    expect(await xcomOf(env, dagRunId, "waiting")).toEqual({ try: 1 });
  });

  it("a scheduler that still heartbeats keeps its tries; they are handed back only once its heartbeat is older than zombieThresholdMs", async () => {
    env = await createTestEnv({ dialect, config: ZOMBIE_CONFIG, dags: { "zombie.ts": SOURCE } });
    await processDags(env);
    const lastHeartbeat = Date.now();
    const jobId = await insertJob(env, lastHeartbeat);
    const dagRunId = await runOwnedBy(env, jobId);
    running = await startScheduler(env);
    expect(await running.waitForRun(dagRunId)).toBe("success");
    const job = await env.store.db.selectFrom("job").selectAll().where("id", "=", jobId).executeTakeFirstOrThrow();
    expect(job.state).toBe("dead");
    expect(Number(job.stopped_at)).toBeGreaterThan(lastHeartbeat + 2_000);
    const [zombie] = await triesOf(env, dagRunId, "lost");
    expect(zombie!.error?.code).toBe("UPDRAFT_E_ZOMBIE");
    expect(zombie!.end).toBeGreaterThan(lastHeartbeat + 2_000);
  });
});

describe.each(DIALECTS)("shutdown (%s)", (dialect) => {
  it("a try running when the scheduler stops is handed back as interrupted, without using up a retry; the next scheduler runs it", async () => {
    env = await createTestEnv({
      dialect,
      dags: {
        "interrupted.ts": `
          import { dag, task } from "updraft";
          const long = task({ id: "long", run: async (_: void, ctx) => {
            // The first try runs until the scheduler stops, however long the test takes to get there.
            if (ctx.tryNumber === 1) await new Promise((r) => setTimeout(r, 120_000));
            return { try: ctx.tryNumber, maxTries: ctx.maxTries };
          } });
          export default dag({ id: "interrupted" }, () => { long(); });
        `,
      },
    });
    await processDags(env);
    const trigger = await triggerDagRun(env.store, "interrupted");
    const firstScheduler = await startScheduler(env);
    running = firstScheduler;
    await waitFor("long to run", async () => (await taskInstance(env!, trigger.id, "long")).state === "running");
    const jobId = firstScheduler.scheduler.jobId;
    await firstScheduler.stop();
    running = undefined;

    const handedBack = await taskInstance(env, trigger.id, "long");
    expect(handedBack.state).toBe("scheduled");
    expect(handedBack.max_tries).toBe(2);
    expect(handedBack.try_number).toBe(1);
    expect(handedBack.try_id).toBeNull();
    expect(handedBack.job_id).toBeNull();
    const interrupted = await triesOf(env, trigger.id, "long");
    expect(interrupted.map((t) => [t.tryNumber, t.state, t.error?.code])).toEqual([[1, "failed", "UPDRAFT_E_TRY_INTERRUPTED"]]);
    expect((await runRow(env, trigger.id)).state).toBe("running");
    const job = await env.store.db.selectFrom("job").selectAll().where("id", "=", jobId).executeTakeFirstOrThrow();
    expect(job.state).toBe("stopped");

    running = await startScheduler(env);
    expect(await running.waitForRun(trigger.id)).toBe("success");
    expect((await taskStates(env, trigger.id)).long).toMatchObject({ state: "success", tryNumber: 2 });
    expect(await xcomOf(env, trigger.id, "long")).toEqual({ try: 2, maxTries: 2 });
    expect((await triesOf(env, trigger.id, "long")).map((t) => [t.tryNumber, t.state, t.error?.code ?? null])).toEqual([
      [1, "failed", "UPDRAFT_E_TRY_INTERRUPTED"],
      [2, "success", null],
    ]);
  });
});

describe.each(DIALECTS)("progress without the poll (%s)", (dialect) => {
  const NO_POLL = { schedulerPollIntervalMs: "1h" };

  it("a chain of five tasks runs to success on the fast path alone", async () => {
    env = await createTestEnv({
      dialect,
      config: NO_POLL,
      dags: {
        "chain5.ts": `
          import { dag, task } from "updraft";
          const t1 = task({ id: "t1", run: () => 1 });
          const t2 = task({ id: "t2", run: (n: number) => n + 1 });
          const t3 = task({ id: "t3", run: (n: number) => n + 1 });
          const t4 = task({ id: "t4", run: (n: number) => n + 1 });
          const t5 = task({ id: "t5", run: (n: number) => n + 1 });
          export default dag({ id: "chain5" }, () => { t5(t4(t3(t2(t1())))); });
        `,
      },
    });
    await processDags(env);
    // Triggered before start(): its first pass picks the run up.
    const trigger = await triggerDagRun(env.store, "chain5");
    running = await startScheduler(env);
    expect(await running.waitForRun(trigger.id, 20_000)).toBe("success");
    expect(await xcomOf(env, trigger.id, "t5")).toBe(5);
  });

  it("a downstream task marked success while its upstream runs is not run when the upstream ends; a pass then finishes the run", async () => {
    const dir = scratch();
    const release = join(dir, "release");
    env = await createTestEnv({
      dialect,
      config: NO_POLL,
      dags: {
        "marked.ts": `
          import { existsSync } from "node:fs";
          import { dag, task } from "updraft";
          const a = task({ id: "a", run: async () => { ${waitForFileJs(release)} return 1; } });
          const b = task({ id: "b", run: () => 2 });
          const c = task({ id: "c", run: () => 3 });
          export default dag({ id: "marked" }, () => { c().after(b().after(a())); });
        `,
      },
    });
    await processDags(env);
    const trigger = await triggerDagRun(env.store, "marked");
    running = await startScheduler(env);
    await waitFor("a to be dispatched", async () => ["queued", "running"].includes((await taskInstance(env!, trigger.id, "a")).state), 20_000);
    // Marked behind the scheduler's back (no notification): the end of a decides b without reading it first.
    await env.store.db.updateTable("task_instance").set({ state: "success" }).where("dag_run_id", "=", trigger.id).where("task_id", "=", "b").execute();
    writeFileSync(release, "");
    await waitFor("a to succeed", async () => (await taskInstance(env!, trigger.id, "a")).state === "success", 20_000);
    // a's end and the decision about b are one transaction: b is as it was marked, never tried.
    expect(await taskInstance(env!, trigger.id, "b")).toMatchObject({ state: "success", try_number: 0 });
    running.scheduler.requestPass();
    expect(await running.waitForRun(trigger.id, 20_000)).toBe("success");
    expect(await taskStates(env, trigger.id)).toMatchObject({ a: { tryNumber: 1 }, b: { state: "success", tryNumber: 0 }, c: { state: "success", tryNumber: 1 } });
  });

  it("a retry comes due by its timer, not by the poll", async () => {
    env = await createTestEnv({
      dialect,
      config: NO_POLL,
      dags: {
        "retry_timer.ts": `
          import { dag, task } from "updraft";
          const flaky = task({ id: "flaky", retries: 1, retryDelay: "300ms", run: (_: void, ctx) => {
            if (ctx.tryNumber === 1) throw new Error("first try fails");
            return ctx.tryNumber;
          } });
          export default dag({ id: "retry_timer" }, () => { flaky(); });
        `,
      },
    });
    await processDags(env);
    const trigger = await triggerDagRun(env.store, "retry_timer");
    running = await startScheduler(env);
    expect(await running.waitForRun(trigger.id, 20_000)).toBe("success");
    expect((await triesOf(env, trigger.id, "flaky")).map((t) => t.state)).toEqual(["failed", "success"]);
  });

  it("a run triggered through another connection starts without the poll", async () => {
    env = await createTestEnv({
      dialect,
      config: NO_POLL,
      dags: {
        "elsewhere.ts": `
          import { dag, task } from "updraft";
          const one = task({ id: "one", run: () => "ran" });
          export default dag({ id: "elsewhere" }, () => { one(); });
        `,
      },
    });
    await processDags(env);
    running = await startScheduler(env);
    // Once the first pass (from start()) has committed, only a change notice can wake the scheduler.
    await running.scheduler.pass();
    const other = await openStore({ url: env.config.databaseUrl });
    let dagRunId: number;
    try {
      dagRunId = (await triggerDagRun(other, "elsewhere")).id;
    } finally {
      await other.close();
    }
    expect(await running.waitForRun(dagRunId, 20_000)).toBe("success");
    expect(await xcomOf(env, dagRunId, "one")).toBe("ran");
  });
});
