/**
 * The distributed path of the bench (`--only workers`): the bench process is the scheduler (with
 * the broker executor) and the API server, on the bench's database; two `updraft worker`
 * processes (the built CLI) take the tries from Redis and report through the task-execution API
 * over HTTP on this machine. Each worker has its own home and nothing of the server's: no
 * database, no DAGs folder, no keys.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as ServerModule from "../src/api/server.js";
import type * as RedisBrokerModule from "../src/broker/redis.js";
import type * as BrokerExecutorModule from "../src/executor/broker-executor.js";
import type { Executor } from "../src/executor/types.js";
import type * as SecretsModule from "../src/security/secrets.js";
import type * as TokensModule from "../src/security/tokens.js";
import type { Store } from "../src/store/connect.js";
import type { Config } from "../src/config/index.js";
import type { Logger } from "../src/util/logger.js";
import { keysUnder, REDIS_URL } from "./bullmq.js";

const ROOT = new URL("../", import.meta.url).pathname;
const dist = new URL("../dist/", import.meta.url).href;
const load = <T>(path: string) => import(`${dist}${path}`) as Promise<T>;

export interface Cluster {
  executor: Executor;
  stop(): Promise<void>;
}

/** The API on a free port, a broker executor for the scheduler, and `workers` worker processes of `concurrency` each. */
export async function startCluster(store: Store, config: Config, log: Logger, workers: number, concurrency: number): Promise<Cluster> {
  const [{ buildApi }, { redisBroker }, { BrokerExecutor }, secrets, tokens] = await Promise.all([
    load<typeof ServerModule>("api/server.js"),
    load<typeof RedisBrokerModule>("broker/redis.js"),
    load<typeof BrokerExecutorModule>("executor/broker-executor.js"),
    load<typeof SecretsModule>("security/secrets.js"),
    load<typeof TokensModule>("security/tokens.js"),
  ]);
  const signingKey = tokens.parseSigningKey(tokens.generateSigningKey());
  const keyring = secrets.createKeyring(secrets.parseKeyring(`k1:${secrets.generateKey()}`));
  const app = await buildApi({ store, config, log, keyring, auth: { signingKey, accessTtlMs: 900_000, refreshTtlMs: 3_600_000 }, uiRoot: null });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  const prefix = `updraft-bench-${randomBytes(4).toString("hex")}`;
  const executor = new BrokerExecutor({ name: "redis", publisher: redisBroker({ url: REDIS_URL, prefix, log }).publisher(), signingKey, log });
  const homes: string[] = [];
  const children: ChildProcess[] = [];
  const outputs: string[] = [];
  for (let i = 0; i < workers; i++) {
    const home = mkdtempSync(join(tmpdir(), "updraft-bench-worker-"));
    homes.push(home);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("UPDRAFT_")) env[k] = v;
    Object.assign(env, { UPDRAFT_HOME: home, UPDRAFT_BROKER_URL: REDIS_URL, UPDRAFT_BROKER_PREFIX: prefix, UPDRAFT_WARM_RUNNERS: String(concurrency), UPDRAFT_LOG_FORMAT: "json", UPDRAFT_LOG_LEVEL: "info" });
    const child = spawn(process.execPath, [join(ROOT, "bin", "updraft.js"), "worker", "--api-url", url, "--concurrency", String(concurrency)], { env, stdio: ["ignore", "pipe", "pipe"] });
    outputs.push("");
    child.stdout!.on("data", (c: Buffer) => (outputs[i] += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (outputs[i] += c.toString()));
    children.push(child);
  }
  const deadline = Date.now() + 60_000;
  while (!outputs.every((o) => o.includes("worker started"))) {
    if (Date.now() > deadline || children.some((c) => c.exitCode !== null)) throw new Error(`the workers did not start: ${outputs.join("\n").slice(-1000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // Their runners warm (each imports nothing until its first try).
  await new Promise((r) => setTimeout(r, 1_000));
  return {
    executor,
    async stop() {
      await Promise.all(
        children.map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const exited = new Promise((r) => c.once("exit", r));
          c.kill("SIGTERM");
          await exited;
        }),
      );
      await app.close();
      for (const home of homes) rmSync(home, { recursive: true, force: true });
      await keysUnder(prefix, true);
    },
  };
}
