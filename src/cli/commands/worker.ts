/** `updraft worker`: runs tries of a remote scheduler, fed through the broker, reporting to the API. */
import { join } from "node:path";
import type { Command } from "commander";
import { UpdraftError } from "../../errors/index.js";
import { createBroker } from "../../runtime/index.js";
import { parseDuration } from "../../util/duration.js";
import { createLogger } from "../../util/logger.js";
import { loadCliConfig } from "../context.js";

interface WorkerFlags {
  apiUrl?: string;
  queues?: string;
  concurrency?: string;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("Run tries on this machine: takes them from the broker's queues and reports to the API server (no database, no DAGs folder)")
    .option("--api-url <url>", "the API server whose task-execution API this worker reports to (UPDRAFT_API_URL)")
    .option("--queues <names>", "queues to take tries from, comma-separated (UPDRAFT_QUEUES, default: default)")
    .option("--concurrency <n>", "tries run at once (UPDRAFT_WORKER_CONCURRENCY, default 8)")
    .option("--grace <duration>", "on SIGTERM, how long running tries get to end before they are handed back (default 60s; a second SIGTERM hands them back at once)", "60s")
    .action(async (opts: WorkerFlags & { grace: string }, command: Command) => {
      const { config } = loadCliConfig(command, {
        ...(opts.apiUrl !== undefined ? { apiUrl: opts.apiUrl } : {}),
        ...(opts.queues !== undefined ? { queues: opts.queues } : {}),
        ...(opts.concurrency !== undefined ? { workerConcurrency: opts.concurrency } : {}),
      });
      if (!config.apiUrl) {
        throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", "the worker needs the API server's address", { hint: "pass --api-url https://host:port (or set UPDRAFT_API_URL)" });
      }
      const log = createLogger(config.logLevel);
      const broker = await createBroker(config, log);
      const { Worker } = await import("../../worker/worker.js");
      const worker = new Worker({
        apiUrl: config.apiUrl,
        broker,
        queues: config.queues,
        concurrency: config.workerConcurrency,
        warmRunners: config.warmRunners,
        memoryLimitMb: config.runnerMemoryLimitMb,
        killGraceMs: config.killGraceMs,
        bundleDir: join(config.home, "cache", "worker-bundles"),
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        log,
      });
      const graceMs = parseDuration(opts.grace, "--grace");
      await worker.start();
      // SIGTERM: drain (running tries end within the grace, the rest are handed back); again: now.
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) {
            log.warn(`${signal} again: handing back the running tries now`);
            worker.hurry();
            return;
          }
          stopping = true;
          log.info({ graceMs }, `${signal}: taking no more tries; the running ones get ${opts.grace} to end`);
          worker
            .stop(graceMs)
            .then(
              () => log.info("stopped"),
              (error: unknown) => log.error({ err: error }, "the worker did not stop cleanly"),
            )
            .finally(resolve);
        };
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
      });
    });
}
