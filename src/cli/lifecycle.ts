/** Long-running commands stop cleanly on SIGINT/SIGTERM; a second signal exits at once. */
import type { Logger } from "../util/logger.js";

export function onShutdown(log: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        process.exit(130);
      }
      stopping = true;
      log.info(`${signal}: stopping (press Ctrl-C again to exit at once)`);
      stop().then(resolve, (error: unknown) => {
        log.error({ err: error }, "stopping failed");
        resolve();
      });
    };
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
  });
}
