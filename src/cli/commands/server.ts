/** The long-running commands: standalone, scheduler, dag-processor. */
import type { Command } from "commander";
import { redactUrl } from "../../store/connect.js";
import { createProcessor, createScheduler, openConfiguredStore } from "../../runtime/index.js";
import { createLogger } from "../../util/logger.js";
import { loadCliConfig } from "../context.js";
import { onShutdown } from "../lifecycle.js";

export function registerServerCommands(program: Command): void {
  program
    .command("standalone")
    .description("Run everything in one process on this machine: migrations, DAG processor, scheduler and local executor")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      const log = createLogger(config.logLevel);
      const store = await openConfiguredStore(config, { migrate: true });
      const processor = createProcessor(store, config, log);
      const scheduler = createScheduler(store, config, log);
      const summary = await processor.start();
      await scheduler.start();
      log.info(
        { dagsFolder: config.dagsFolder, database: redactUrl(config.databaseUrl), dagFiles: summary.files, importErrors: summary.errors },
        "Updraft standalone is running (Ctrl-C stops it)",
      );
      if (config.dagsArePausedAtCreation) log.info("new DAGs start paused: `updraft dags unpause <dag_id>` lets them run on schedule");
      await onShutdown(log, async () => {
        await processor.stop();
        await scheduler.stop();
        await store.close();
      });
    });

  program
    .command("scheduler")
    .description("Run a scheduler with the local executor (DAG files are processed by `updraft dag-processor`)")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      const log = createLogger(config.logLevel);
      const store = await openConfiguredStore(config, { migrate: true });
      const scheduler = createScheduler(store, config, log);
      await scheduler.start();
      log.info({ database: redactUrl(config.databaseUrl), job: scheduler.jobId }, "scheduler running");
      await onShutdown(log, async () => {
        await scheduler.stop();
        await store.close();
      });
    });

  program
    .command("dag-processor")
    .description("Keep the stored DAGs in step with the DAGs folder")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      const log = createLogger(config.logLevel);
      const store = await openConfiguredStore(config, { migrate: true });
      const processor = createProcessor(store, config, log);
      const summary = await processor.start();
      log.info({ dagsFolder: config.dagsFolder, ...summary }, "DAG processor running");
      await onShutdown(log, async () => {
        await processor.stop();
        await store.close();
      });
    });
}
