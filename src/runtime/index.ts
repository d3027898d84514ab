/**
 * Assembles the long-running parts from a Config: the store, the local executor, the scheduler
 * and the DAG processor. Used by the CLI commands, the tests and the benchmarks.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/index.js";
import { DagProcessor, type ProcessorEvent, type ScanSummary } from "../dag-processor/processor.js";
import { LocalExecutor } from "../executor/local-executor.js";
import type { Executor } from "../executor/types.js";
import type { Broker } from "../broker/types.js";
import { UpdraftError } from "../errors/index.js";
import { Scheduler, type SchedulerEvent } from "../scheduler/scheduler.js";
import { createKeyring, parseKeyring, type Keyring } from "../security/secrets.js";
import { openStore, type Store } from "../store/connect.js";
import { migrate } from "../store/migrate.js";
import type { Logger } from "../util/logger.js";

export async function openConfiguredStore(config: Config, options: { migrate?: boolean; log?: Logger } = {}): Promise<Store> {
  const store = await openStore({ url: config.databaseUrl, sqliteSynchronous: config.sqliteSynchronous, ...(options.log ? { log: options.log } : {}) });
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

/**
 * The executor the config names: the local one (runner processes of this machine), or workers
 * fed through the broker at brokerUrl, whose try tokens are signed with the API server's key.
 * The broker's client library is loaded only here, when one is configured.
 */
export async function createExecutor(config: Config, log: Logger, signingKey: Uint8Array | null): Promise<Executor> {
  if (config.executor === "local") return createLocalExecutor(config, log);
  const broker = await createBroker(config, log);
  if (!signingKey) {
    throw new UpdraftError("UPDRAFT_E_SIGNING_KEY", `the ${config.executor} executor signs try tokens with UPDRAFT_JWT_SECRET, which is not set`, {
      hint: "set it to the key of the API servers the workers report to (they check the tokens with it)",
    });
  }
  const { BrokerExecutor } = await import("../executor/broker-executor.js");
  return new BrokerExecutor({ name: broker.kind, publisher: broker.publisher(), signingKey, log });
}

/** The broker at brokerUrl (its kind from the URL's scheme), for a broker executor or a worker. */
export async function createBroker(config: Config, log: Logger): Promise<Broker> {
  const url = config.brokerUrl;
  if (!url) {
    throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", "no broker is configured: UPDRAFT_BROKER_URL is not set", {
      hint: "set it to redis://host:port/db (the redis executor and its workers share it)",
    });
  }
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "redis" || scheme === "rediss") {
    const { redisBroker } = await import("../broker/redis.js");
    return redisBroker({ url, prefix: config.brokerPrefix, log });
  }
  if (scheme === "amqp" || scheme === "amqps") {
    throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", "the RabbitMQ broker is not built yet", { hint: "use a Redis broker (redis://…) for now" });
  }
  throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", `UPDRAFT_BROKER_URL must start with redis:// or amqp://, not ${scheme ?? "nothing"}:`, { hint: "e.g. redis://127.0.0.1:6379/0" });
}

/**
 * The secrets keyring: UPDRAFT_SECRET_KEY, else standalone's `$UPDRAFT_HOME/secret_key` when there
 * is one (it is never made here); null without either. The scheduler decrypts with it the secret
 * variables and connections tasks read; CLI commands that touch secrets need it.
 */
export function configuredKeyring(config: Config): Keyring | null {
  const file = join(config.home, "secret_key");
  const text = config.secretKey ?? (existsSync(file) ? readFileSync(file, "utf8").trim() : null);
  return text ? createKeyring(parseKeyring(text, config.secretKey ? "UPDRAFT_SECRET_KEY" : file)) : null;
}

export interface SchedulerExtras {
  onlyRuns?: number[];
  onEvent?: (e: SchedulerEvent) => void;
  /** Decrypts what tasks read (see configuredKeyring); without it secret reads fail. */
  keyring?: Keyring | null;
  /** An executor made (and maybe warmed) beforehand; by default a local executor from the config. */
  executor?: Executor;
}

export function createScheduler(store: Store, config: Config, log: Logger, options: SchedulerExtras = {}): Scheduler {
  const { executor = createLocalExecutor(config, log), ...rest } = options;
  return new Scheduler({ store, config, executor, log, ...rest });
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
