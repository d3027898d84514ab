/**
 * Assembles the long-running parts from a Config: the store, the local executor, the scheduler
 * and the DAG processor. Used by the CLI commands, the tests and the benchmarks.
 */
import { join } from "node:path";
import type { Config } from "../config/index.js";
import { DagProcessor, type ProcessorEvent, type ScanSummary } from "../dag-processor/processor.js";
import { LocalExecutor } from "../executor/local-executor.js";
import { Scheduler, type SchedulerEvent } from "../scheduler/scheduler.js";
import { openStore, type Store } from "../store/connect.js";
import { migrate } from "../store/migrate.js";
import type { Logger } from "../util/logger.js";

export async function openConfiguredStore(config: Config, options: { migrate?: boolean } = {}): Promise<Store> {
  const store = await openStore({ url: config.databaseUrl, sqliteSynchronous: config.sqliteSynchronous });
  if (options.migrate) {
    try {
      await migrate(store);
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}

export function createLocalExecutor(config: Config, log: Logger): LocalExecutor {
  return new LocalExecutor({
    maxRunners: Math.min(config.runners, config.parallelism),
    warmRunners: config.warmRunners,
    memoryLimitMb: config.runnerMemoryLimitMb,
    killGraceMs: config.killGraceMs,
    bundleDir: join(config.home, "cache", "bundles"),
    log,
  });
}

export function createScheduler(store: Store, config: Config, log: Logger, options: { onlyRuns?: number[]; onEvent?: (e: SchedulerEvent) => void } = {}): Scheduler {
  return new Scheduler({ store, config, executor: createLocalExecutor(config, log), log, ...options });
}

/**
 * Processes the DAGs folder once (one-off commands and tests), then stops the processor's workers.
 * The type checks of typeCheck "warn" are skipped unless `waitForTypeChecks` (they would only
 * finish after the scan); those of "error" always run, since they decide what is stored.
 */
export async function processDagsFolder(store: Store, config: Config, log: Logger, options: { waitForTypeChecks?: boolean } = {}): Promise<ScanSummary> {
  const wait = options.waitForTypeChecks ?? false;
  const processor = new DagProcessor({ store, config, log, backgroundTypeChecks: wait });
  try {
    const summary = await processor.scan();
    if (wait) await processor.typeChecksSettled();
    return summary;
  } finally {
    await processor.stop();
  }
}

export function createProcessor(store: Store, config: Config, log: Logger, onEvent?: (e: ProcessorEvent) => void): DagProcessor {
  return new DagProcessor({ store, config, log, ...(onEvent ? { onEvent } : {}) });
}
