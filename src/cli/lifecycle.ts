/**
 * Long-running commands stop cleanly on SIGINT/SIGTERM; a second signal exits at once. Once they
 * run, a promise rejected without a handler is a bug to report, not a reason to stop serving
 * (every loop handles its own errors; this is the last line).
 */
import type { Logger } from "../util/logger.js";

export function onShutdown(log: Logger, stop: () => Promise<void>): Promise<void> {
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "a promise was rejected and nothing handled it (a bug: please report it); Updraft keeps running"));
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
