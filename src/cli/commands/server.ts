/** The long-running commands: standalone, scheduler, dag-processor. */
import type { Command } from "commander";
import { redactUrl } from "../../store/connect.js";
import { configuredKeyring, createExecutor, createProcessor, createScheduler, openConfiguredStore } from "../../runtime/index.js";
import { parseSigningKey } from "../../security/tokens.js";
import { checkKeyring } from "../../store/secrets.js";
import { createLogger } from "../../util/logger.js";
import { loadCliConfig } from "../context.js";
import { onShutdown } from "../lifecycle.js";

/**
 * The API server and what it brings (Fastify, its plugins, the OpenAPI document) are loaded only
 * by the commands that serve it: every other command starts without paying for them.
 */
async function apiModules() {
  const [start, bootstrap] = await Promise.all([import("../../api/start.js"), import("../../api/bootstrap.js")]);
  return { loadKeys: start.loadKeys, startApi: start.startApi, ensureStandaloneAdmin: bootstrap.ensureStandaloneAdmin };
}

interface ServeOptions {
  port?: string;
  tlsCert?: string;
  tlsKey?: string;
  executor?: string;
}

function serveFlags(opts: ServeOptions): Record<string, unknown> {
  return {
    ...(opts.executor !== undefined ? { executor: opts.executor } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.tlsCert !== undefined ? { tlsCert: opts.tlsCert } : {}),
    ...(opts.tlsKey !== undefined ? { tlsKey: opts.tlsKey } : {}),
  };
}

export function registerServerCommands(program: Command): void {
  program
    .command("standalone")
    .description("Run everything in one process on this machine: migrations, DAG processor, scheduler, local executor and the API")
    .option("--port <port>", "port of the API and UI (UPDRAFT_PORT, default 8080)")
    .option("--tls-cert <file>", "PEM certificate: serve HTTPS (UPDRAFT_TLS_CERT)")
    .option("--tls-key <file>", "PEM private key of the certificate (UPDRAFT_TLS_KEY)")
    .option("--executor <kind>", "local (default), or redis: tries wait for `updraft worker` processes (UPDRAFT_EXECUTOR)")
    .action(async (opts: ServeOptions, command: Command) => {
      const { config, sources } = loadCliConfig(command, serveFlags(opts));
      const log = createLogger(config.logLevel);
      const { loadKeys, startApi, ensureStandaloneAdmin } = await apiModules();
      const keys = loadKeys(config, { standalone: true });
      const store = await openConfiguredStore(config, { migrate: true, log });
      // The port first: a port in use fails the start before anything else runs (an admin made
      // before it would have its password printed by no start at all).
      const api = await startApi({ store, config, log, keys, configSources: sources }).catch(async (error: unknown) => {
        await store.close();
        throw error;
      });
      const admin = await ensureStandaloneAdmin(store, config).catch(async (error: unknown) => {
        await api.close();
        await store.close();
        throw error;
      });
      const processor = createProcessor(store, config, log);
      const executor = await createExecutor(config, log, keys.signingKey).catch(async (error: unknown) => {
        await api.close();
        await store.close();
        throw error;
      });
      const scheduler = createScheduler(store, config, log, { keyring: keys.keyring, executor });
      const summary = await processor.start();
      await scheduler.start();
      if (admin) {
        process.stdout.write(`\nAn Admin account was created for you (shown once; also in ${admin.file}):\n  username: ${admin.username}\n  password: ${admin.password}\n\n`);
      }
      // The signal handlers first: a supervisor may stop the process the moment it says it runs.
      const stopped = onShutdown(log, async () => {
        await api.close();
        await processor.stop();
        await scheduler.stop();
        await store.close();
        log.info("stopped");
      });
      log.info(
        { url: api.url, dagsFolder: config.dagsFolder, database: redactUrl(config.databaseUrl), dagFiles: summary.files, importErrors: summary.errors },
        `Updraft standalone is running at ${api.url} (Ctrl-C stops it)`,
      );
      if (config.dagsArePausedAtCreation) log.info("new DAGs start paused: `updraft dags unpause <dag_id>` lets them run on schedule");
      await stopped;
    });

  program
    .command("scheduler")
    .description("Run a scheduler (DAG files are processed by `updraft dag-processor`), with the local executor or workers fed through a broker")
    .option("--executor <kind>", "local (default), or redis: tries go to `updraft worker` processes through UPDRAFT_BROKER_URL (UPDRAFT_EXECUTOR)")
    .action(async (opts: { executor?: string }, command: Command) => {
      const { config } = loadCliConfig(command, opts.executor !== undefined ? { executor: opts.executor } : {});
      const log = createLogger(config.logLevel);
      // Without a keyring the scheduler still runs: tasks read plain variables and connections,
      // and a secret one fails the read with an error naming UPDRAFT_SECRET_KEY.
      const keyring = configuredKeyring(config);
      const store = await openConfiguredStore(config, { migrate: true, log });
      if (keyring) {
        await checkKeyring(store.db, keyring).catch(async (error: unknown) => {
          await store.close();
          throw error;
        });
      } else {
        log.warn("UPDRAFT_SECRET_KEY is not set: tasks cannot read secret variables and connections (plain ones they can)");
      }
      // A broker executor signs try tokens with the API servers' key.
      const executor = await createExecutor(config, log, config.jwtSecret ? parseSigningKey(config.jwtSecret) : null).catch(async (error: unknown) => {
        await store.close();
        throw error;
      });
      const scheduler = createScheduler(store, config, log, { keyring, executor });
      await scheduler.start();
      const stopped = onShutdown(log, async () => {
        await scheduler.stop();
        await store.close();
      });
      log.info({ database: redactUrl(config.databaseUrl), job: scheduler.jobId }, "scheduler running");
      await stopped;
    });

  program
    .command("api-server")
    .description("Serve the REST API and live events (stateless: run several behind a load balancer)")
    .option("--port <port>", "port to listen on (UPDRAFT_PORT, default 8080)")
    .option("--tls-cert <file>", "PEM certificate: serve HTTPS (UPDRAFT_TLS_CERT)")
    .option("--tls-key <file>", "PEM private key of the certificate (UPDRAFT_TLS_KEY)")
    .action(async (opts: ServeOptions, command: Command) => {
      const { config, sources } = loadCliConfig(command, serveFlags(opts));
      const log = createLogger(config.logLevel);
      const { loadKeys, startApi } = await apiModules();
      const keys = loadKeys(config, { standalone: false });
      const store = await openConfiguredStore(config, { migrate: true, log });
      const api = await startApi({ store, config, log, keys, configSources: sources }).catch(async (error: unknown) => {
        await store.close();
        throw error;
      });
      const stopped = onShutdown(log, async () => {
        await api.close();
        await store.close();
      });
      log.info({ url: api.url, database: redactUrl(config.databaseUrl) }, `API server running at ${api.url}`);
      await stopped;
    });

  program
    .command("dag-processor")
    .description("Keep the stored DAGs in step with the DAGs folder")
    .action(async (_opts: unknown, command: Command) => {
      const { config } = loadCliConfig(command);
      const log = createLogger(config.logLevel);
      const store = await openConfiguredStore(config, { migrate: true, log });
      const processor = createProcessor(store, config, log);
      const summary = await processor.start();
      const stopped = onShutdown(log, async () => {
        await processor.stop();
        await store.close();
      });
      log.info({ dagsFolder: config.dagsFolder, ...summary }, "DAG processor running");
      await stopped;
    });
}
