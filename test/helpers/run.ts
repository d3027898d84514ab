/** Running DAGs in tests with the real processor, scheduler and local executor. */
import type { DagRunState, TaskInstanceState } from "../../src/dag/model.js";
import { createScheduler, processDagsFolder, type SchedulerExtras } from "../../src/runtime/index.js";
import { triggerDagRun, type TriggerOptions } from "../../src/scheduler/create-run.js";
import type { Scheduler, SchedulerEvent } from "../../src/scheduler/scheduler.js";
import { listTaskInstances } from "../../src/store/runs.js";
import { silentLogger } from "../../src/util/logger.js";
import type { TestEnv } from "./env.js";

/** Processes the DAGs folder once. */
export function processDags(env: TestEnv) {
  return processDagsFolder(env.store, env.config, silentLogger());
}

export interface RunningScheduler {
  scheduler: Scheduler;
  events: SchedulerEvent[];
  /** Resolves with the final state of the run (success or failed). */
  waitForRun(dagRunId: number, timeoutMs?: number): Promise<DagRunState>;
  stop(): Promise<void>;
}

export async function startScheduler(env: TestEnv, options: Pick<SchedulerExtras, "onlyRuns" | "keyring"> = {}): Promise<RunningScheduler> {
  const events: SchedulerEvent[] = [];
  const waiters = new Map<number, Array<(state: DagRunState) => void>>();
  const ended = new Map<number, DagRunState>();
  const scheduler = createScheduler(env.store, env.config, silentLogger(), {
    ...options,
    onEvent: (e) => {
      events.push(e);
      if (e.type === "run-state" && (e.state === "success" || e.state === "failed")) {
        ended.set(e.dagRunId, e.state);
        for (const w of waiters.get(e.dagRunId) ?? []) w(e.state);
        waiters.delete(e.dagRunId);
      }
    },
  });
  await scheduler.start();
  return {
    scheduler,
    events,
    waitForRun(dagRunId, timeoutMs = 30_000) {
      const done = ended.get(dagRunId);
      if (done) return Promise.resolve(done);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`run ${dagRunId} did not finish within ${timeoutMs} ms`)), timeoutMs);
        const list = waiters.get(dagRunId) ?? [];
        list.push((state) => {
          clearTimeout(timer);
          resolve(state);
        });
        waiters.set(dagRunId, list);
      });
    },
    stop: () => scheduler.stop(),
  };
}

export interface FinishedRun {
  id: number;
  runId: string;
  state: DagRunState;
  tasks: Record<string, { state: TaskInstanceState; tryNumber: number; id: number }>;
}

/** Processes the folder, triggers one run of `dagId`, runs a scheduler until it ends. */
export async function runDag(env: TestEnv, dagId: string, trigger: TriggerOptions = {}, timeoutMs = 30_000): Promise<FinishedRun> {
  await processDags(env);
  const run = await triggerDagRun(env.store, dagId, trigger);
  const s = await startScheduler(env);
  try {
    const state = await s.waitForRun(run.id, timeoutMs);
    return { id: run.id, runId: run.runId, state, tasks: await taskStates(env, run.id) };
  } finally {
    await s.stop();
  }
}

export async function taskStates(env: TestEnv, dagRunId: number): Promise<FinishedRun["tasks"]> {
  const tis = await listTaskInstances(env.store.db, dagRunId);
  return Object.fromEntries(tis.map((t) => [t.task_id, { state: t.state as TaskInstanceState, tryNumber: t.try_number, id: t.id }]));
}
