/**
 * Tries through Redis to a worker that knows nothing but the API's address: the scheduler (with
 * the broker executor) and the API server share one process and store, as `updraft standalone
 * --executor redis` runs them; the worker takes the tries from BullMQ, starts each through the
 * task-execution API, runs it in its own warm runners and reports there. A DAG with typed data
 * passing, a branch and a retry runs to the end on every dialect, each test on its own key prefix.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { redisBroker } from "../../src/broker/redis.js";
import { BrokerExecutor } from "../../src/executor/broker-executor.js";
import { createScheduler } from "../../src/runtime/index.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import type { DagRunState } from "../../src/dag/model.js";
import { createLogger, silentLogger } from "../../src/util/logger.js";
import { Worker } from "../../src/worker/worker.js";
import { createApiEnv, type ApiEnv } from "../api/helpers.js";
import { DIALECTS } from "../helpers/dialects.js";
import { dropRedisPrefix, REDIS_URL, redisEnabled } from "../helpers/services.js";
import { taskStates } from "../helpers/run.js";

const REDIS = await redisEnabled();

const DAGS = {
  "remote.ts": `
    import { branch, dag, task } from "updraft";
    const extract = task({ id: "extract", run: () => ({ rows: 7 }) });
    const pick = branch({ id: "pick", run: (x: { rows: number }) => (x.rows > 5 ? "big" : "small") });
    const big = task({ id: "big", run: (x: { rows: number }) => x.rows * 10 });
    const small = task({ id: "small", run: () => 0 });
    const flaky = task({
      id: "flaky",
      retries: 1,
      retryDelay: "0s",
      run: (_: void, ctx) => {
        console.log("try", ctx.tryNumber);
        if (ctx.tryNumber === 1) throw new Error("first try fails");
        return ctx.tryNumber;
      },
    });
    const noisy = task({
      id: "noisy",
      run: () => {
        console.log("x".repeat(100_000));
        throw new Error("bad \\u0000 thing " + "y".repeat(100_000));
      },
    });
    export const noisyDag = dag({ id: "noisy" }, () => { noisy(); });
    const long = task({
      id: "long",
      run: async (_: void, ctx) => {
        if (ctx.tryNumber === 1) await new Promise((r) => setTimeout(r, 120_000));
        return ctx.tryNumber;
      },
    });
    export const longDag = dag({ id: "long" }, () => { long(); });
    const ticker = task({
      id: "ticker",
      run: async (_: void, ctx) => {
        const { appendFileSync } = await import("node:fs");
        for (let i = 0; i < 600; i++) {
          appendFileSync(ctx.params.file as string, ".");
          await new Promise((r) => setTimeout(r, 100));
        }
      },
    });
    export const tickerDag = dag({ id: "ticker", params: { file: { type: "string", default: "" } } }, () => { ticker(); });
    export default dag({ id: "remote" }, () => {
      const rows = extract();
      const choice = pick(rows);
      big(rows).after(choice);
      small().after(choice);
      flaky();
    });
  `,
};

interface Cluster {
  api: ApiEnv;
  prefix: string;
  waitForRun(id: number): Promise<DagRunState>;
  /** The worker started with the cluster (none with `workerLater`). */
  worker: Worker | null;
  /** Starts the worker (at once unless `workerLater`). */
  startWorker(): Promise<void>;
  /** Starts one more worker. */
  addWorker(): Promise<Worker>;
  stop(): Promise<void>;
}

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function startCluster(dialect: (typeof DIALECTS)[number], options: { workerLater?: boolean; config?: Record<string, unknown> } = {}): Promise<Cluster> {
  const prefix = `updraft-test-${randomBytes(4).toString("hex")}`;
  const bundleDir = mkdtempSync(join(tmpdir(), "updraft-worker-"));
  // No poll worth the name: the run moves on only by the remote ends the scheduler is told of.
  const api = await createApiEnv({ dialect, dags: DAGS, config: { schedulerPollIntervalMs: "10m", ...options.config } });
  const address = await api.app.listen({ host: "127.0.0.1", port: 0 });
  const log = process.env.DBG_WORKER ? createLogger("warn") : silentLogger();
  const ended = new Map<number, DagRunState>();
  const waiters = new Map<number, (s: DagRunState) => void>();
  const executor = new BrokerExecutor({ name: "redis", publisher: redisBroker({ url: REDIS_URL, prefix, log }).publisher(), signingKey: api.signingKey, log });
  const scheduler = createScheduler(api.env.store, api.env.config, log, {
    executor,
    onEvent: (e) => {
      if (e.type === "run-state" && (e.state === "success" || e.state === "failed")) {
        ended.set(e.dagRunId, e.state);
        waiters.get(e.dagRunId)?.(e.state);
      }
    },
  });
  const workers: Worker[] = [];
  const addWorker = async () => {
    const worker = new Worker({
      apiUrl: address,
      broker: redisBroker({ url: REDIS_URL, prefix, log }),
      queues: ["default"],
      concurrency: 2,
      warmRunners: 1,
      memoryLimitMb: 512,
      killGraceMs: 500,
      bundleDir,
      heartbeatIntervalMs: 1_000,
      log,
    });
    workers.push(worker);
    await worker.start();
    return worker;
  };
  await scheduler.start();
  const first = options.workerLater ? null : await addWorker();
  return {
    api,
    prefix,
    worker: first,
    startWorker: async () => void (await addWorker()),
    addWorker,
    waitForRun: (id) =>
      ended.has(id)
        ? Promise.resolve(ended.get(id)!)
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`run ${id} did not end within 60 s`)), 60_000);
            waiters.set(id, (s) => {
              clearTimeout(timer);
              resolve(s);
            });
          }),
    async stop() {
      for (const w of workers) await w.stop();
      await scheduler.stop();
      await api.cleanup();
      await dropRedisPrefix(prefix);
      rmSync(bundleDir, { recursive: true, force: true });
    },
  };
}

describe.skipIf(!REDIS).each(DIALECTS)("a worker fed through Redis (%s)", (dialect) => {
  it("a worker that stops hands back the try still running after its grace: it runs again on another worker without using up a retry", { timeout: 120_000 }, async () => {
    cluster = await startCluster(dialect);
    const { store } = cluster.api.env;
    const run = await triggerDagRun(store, "long");
    const deadline = Date.now() + 30_000;
    while ((await taskStates(cluster.api.env, run.id)).long!.state !== "running") {
      if (Date.now() > deadline) throw new Error("the try did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    const stopping = cluster.worker!.stop(300);
    await cluster.addWorker();
    await stopping;
    expect(await cluster.waitForRun(run.id)).toBe("success");
    const tries = await store.db.selectFrom("task_try").select(["try_number", "state", "error"]).where("dag_run_id", "=", run.id).orderBy("try_number").execute();
    expect(tries.map((t) => [t.try_number, t.state])).toEqual([
      [1, "failed"],
      [2, "success"],
    ]);
    expect(JSON.parse(tries[0]!.error!)).toMatchObject({ code: "UPDRAFT_E_TRY_INTERRUPTED" });
    // The task has no retries: the handed-back try did not use one up.
    const ti = await store.db.selectFrom("task_instance").select(["try_number", "max_tries"]).where("dag_run_id", "=", run.id).executeTakeFirstOrThrow();
    expect(ti).toEqual({ try_number: 2, max_tries: 2 });
  });

  it("a worker that loses the API stops its try (self-fencing) before the zombie threshold", { timeout: 120_000 }, async () => {
    // Zombie threshold 8 s: the worker stops a try whose beats fail for 4 s (it beats every second).
    cluster = await startCluster(dialect, { config: { zombieThresholdMs: "8s" } });
    const { store } = cluster.api.env;
    const file = join(mkdtempSync(join(tmpdir(), "updraft-fence-")), "ticks");
    const run = await triggerDagRun(store, "ticker", { conf: { file } });
    const size = () => (existsSync(file) ? statSync(file).size : 0);
    const deadline = Date.now() + 30_000;
    while (size() < 3) {
      if (Date.now() > deadline) throw new Error("the try did not start ticking");
      await new Promise((r) => setTimeout(r, 50));
    }
    // The API goes away: no new connections, and the open ones cut.
    const server = cluster.api.app.server;
    server.close();
    server.closeAllConnections();
    const lostAt = Date.now();
    // The try stops ticking: its runner was killed.
    let last = size();
    let stillSince = Date.now();
    while (Date.now() - stillSince < 1_500) {
      if (Date.now() - lostAt > 20_000) throw new Error("the try kept running without the API");
      await new Promise((r) => setTimeout(r, 100));
      const now = size();
      if (now !== last) {
        last = now;
        stillSince = Date.now();
      }
    }
    const stoppedAfter = stillSince - lostAt;
    console.log(`self-fencing: the try stopped ${stoppedAfter} ms after its worker lost the API (fence after 4 s, zombie threshold 8 s)`);
    // Before the scheduler could count it a zombie and run it again, not before its beats failed long enough.
    expect(stoppedAfter).toBeLessThan(8_000);
    expect(stoppedAfter).toBeGreaterThanOrEqual(3_000);
    void run;
  });

  it("a try whose broker message was lost is published again after the queued timeout, and runs once", { timeout: 120_000 }, async () => {
    // The backstop (and the lost-message check) every 200 ms; a message lost for 1 s is published again.
    cluster = await startCluster(dialect, { workerLater: true, config: { schedulerPollIntervalMs: "200ms", heartbeatIntervalMs: "200ms", queuedTimeoutMs: "1s" } });
    const { store } = cluster.api.env;
    const run = await triggerDagRun(store, "noisy");
    const deadline = Date.now() + 30_000;
    while ((await taskStates(cluster.api.env, run.id)).noisy!.state !== "queued") {
      if (Date.now() > deadline) throw new Error("the try was not queued");
      await new Promise((r) => setTimeout(r, 50));
    }
    // The broker loses everything (a Redis restarted without its data); then a worker comes.
    await dropRedisPrefix(cluster.prefix);
    await cluster.startWorker();
    expect(await cluster.waitForRun(run.id)).toBe("failed"); // noisy fails by design: what matters is that it ran
    const tries = await store.db.selectFrom("task_try").select("try_number").where("dag_run_id", "=", run.id).execute();
    expect(tries).toEqual([{ try_number: 1 }]);
  });

  it("reports what the API would refuse as sent: a line above 64 KiB is cut, an error with a NUL and 100 KiB long is cleaned and cut", { timeout: 120_000 }, async () => {
    cluster = await startCluster(dialect);
    const { store } = cluster.api.env;
    const run = await triggerDagRun(store, "noisy");
    expect(await cluster.waitForRun(run.id)).toBe("failed");
    const [attempt] = await store.db.selectFrom("task_try").select(["state", "error"]).where("dag_run_id", "=", run.id).execute();
    expect(attempt!.state).toBe("failed");
    const error = JSON.parse(attempt!.error!) as { message: string };
    expect(error.message.startsWith("bad \ufffd thing yyy")).toBe(true);
    expect(error.message.length).toBeLessThan(64 * 1024);
    const ti = (await taskStates(cluster.api.env, run.id)).noisy!;
    const logged = await store.db.selectFrom("task_log").select("message").where("ti_id", "=", ti.id).execute();
    expect(logged.some((l) => l.message.startsWith("xxxx") && l.message.length > 60_000)).toBe(true);
  });

  it("runs a DAG with typed data passing, a branch and a retry; the API holds every try, log and output", { timeout: 120_000 }, async () => {
    cluster = await startCluster(dialect);
    const { store } = cluster.api.env;
    const run = await triggerDagRun(store, "remote");
    expect(await cluster.waitForRun(run.id)).toBe("success");

    const tasks = await taskStates(cluster.api.env, run.id);
    expect(Object.fromEntries(Object.entries(tasks).map(([id, t]) => [id, [t.state, t.tryNumber]]))).toEqual({
      extract: ["success", 1],
      pick: ["success", 1],
      big: ["success", 1],
      small: ["skipped", 0],
      flaky: ["success", 2],
    });
    const output = await store.db.selectFrom("xcom").select("value").where("dag_run_id", "=", run.id).where("task_id", "=", "big").where("key", "=", "return_value").executeTakeFirstOrThrow();
    expect(JSON.parse(output.value)).toBe(70);
    const tries = await store.db.selectFrom("task_try").select(["task_id", "try_number", "state", "hostname"]).where("dag_run_id", "=", run.id).where("task_id", "=", "flaky").orderBy("try_number").execute();
    expect(tries).toEqual([
      { task_id: "flaky", try_number: 1, state: "failed", hostname: hostname() },
      { task_id: "flaky", try_number: 2, state: "success", hostname: hostname() },
    ]);
    const lines = await store.db.selectFrom("task_log").select(["try_number", "message"]).where("ti_id", "=", tasks.flaky!.id).orderBy("id").execute();
    expect(lines.filter((l) => l.message.startsWith("try ")).map((l) => [l.try_number, l.message])).toEqual([
      [1, "try 1"],
      [2, "try 2"],
    ]);
  });
});
