/**
 * `updraft worker`: runs tries on this machine for a scheduler elsewhere. It takes try messages
 * from its broker queues, starts each try through the task-execution API (which hands it the
 * try's payload), and runs it in a warm runner process of a local executor, the same code as the
 * scheduler's own; the runner's reports (logs, XComs, lookups, the end) go to the API over HTTP
 * instead of into a store. A worker holds no database credentials and no DAGs folder: it fetches
 * the bundles its tries need by content hash and checks the hash.
 */
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import type { Broker, BrokerConsumer, TryMessage } from "../broker/types.js";
import { errorMessage, isUpdraftError, UpdraftError } from "../errors/index.js";
import { LocalExecutor } from "../executor/local-executor.js";
import type { ExecutorCallbacks } from "../executor/types.js";
import type { LogLine, TryResult } from "../runner/protocol.js";
import type { Logger } from "../util/logger.js";
import { ExecutionClient } from "./client.js";

export interface WorkerOptions {
  apiUrl: string;
  broker: Broker;
  queues: readonly string[];
  concurrency: number;
  /** Runner processes kept warm when idle. */
  warmRunners: number;
  memoryLimitMb: number;
  killGraceMs: number;
  /** Where fetched bundles are kept. */
  bundleDir: string;
  /** How often each running try beats (and learns whether it must stop). */
  heartbeatIntervalMs: number;
  log: Logger;
}

/** Log lines of a try are sent at most this often (and with its end). */
const LOG_FLUSH_MS = 200;
/** How long an ended try's token is kept, for the lines it logs on its way out. */
const ENDED_KEEP_MS = 60_000;

interface RunningTry {
  tryId: string;
  token: string;
  bundleHash: string;
  /** Lines not sent yet. */
  lines: LogLine[];
  flushTimer: NodeJS.Timeout | null;
  /** The try's calls to the API, in the order the runner made them (an XCom push before the end). */
  chain: Promise<void>;
  ended: boolean;
  done: () => void;
}

/** Refusals that mean the try is not this worker's to run or report any more. */
const MOVED_ON = new Set(["UPDRAFT_E_TRY_STALE", "UPDRAFT_E_TRY_UNKNOWN", "UPDRAFT_E_TRY_DUPLICATE", "UPDRAFT_E_TOKEN_INVALID", "UPDRAFT_E_FORBIDDEN"]);
const movedOn = (error: unknown) => isUpdraftError(error) && MOVED_ON.has(error.code);

export class Worker {
  readonly #options: WorkerOptions;
  readonly #client: ExecutionClient;
  readonly #executor: LocalExecutor;
  readonly #tries = new Map<string, RunningTry>();
  readonly #host = hostname();
  #consumer: BrokerConsumer | null = null;
  #beat: NodeJS.Timeout | null = null;

  constructor(options: WorkerOptions) {
    this.#options = options;
    this.#client = new ExecutionClient(options.apiUrl);
    this.#executor = new LocalExecutor({
      maxRunners: options.concurrency,
      warmRunners: Math.min(options.warmRunners, options.concurrency),
      memoryLimitMb: options.memoryLimitMb,
      killGraceMs: options.killGraceMs,
      bundleDir: options.bundleDir,
      log: options.log,
    });
  }

  /** Tries running here now. */
  get running(): number {
    return [...this.#tries.values()].filter((t) => !t.ended).length;
  }

  async start(): Promise<void> {
    await this.#executor.start(this.#callbacks());
    this.#beat = setInterval(() => void this.#heartbeat(), this.#options.heartbeatIntervalMs);
    this.#beat.unref();
    this.#consumer = await this.#options.broker.consume(this.#options.queues, this.#options.concurrency, (m) => this.#run(m));
    this.#options.log.info({ queues: this.#options.queues, concurrency: this.#options.concurrency, api: this.#options.apiUrl }, "worker started");
  }

  /** Stops taking tries and stops the runners (the tries they run end as interrupted). */
  async stop(): Promise<void> {
    if (this.#beat) clearInterval(this.#beat);
    const consumer = this.#consumer;
    this.#consumer = null;
    const closing = consumer?.close();
    await this.#executor.stop();
    await closing;
    await Promise.all([...this.#tries.values()].map((t) => t.chain));
  }

  /** One broker message: start the try, run it, resolve once its end is reported (or it is not ours). */
  async #run(message: TryMessage): Promise<void> {
    const { tryId, token } = message;
    let payload;
    try {
      ({ payload } = await this.#client.start(tryId, token, { hostname: this.#host, pid: process.pid }));
    } catch (error) {
      if (movedOn(error)) {
        this.#options.log.debug({ tryId, code: (error as UpdraftError).code }, "dropping a try that is not this worker's to run");
        return;
      }
      throw error;
    }
    await new Promise<void>((done) => {
      this.#tries.set(tryId, { tryId, token, bundleHash: payload.bundleHash, lines: [], flushTimer: null, chain: Promise.resolve(), ended: false, done });
      this.#executor.dispatch([payload]);
    });
  }

  /** Runs `call` after the try's earlier calls; a failure is logged, and a refusal ends nothing here. */
  #then(t: RunningTry, what: string, call: () => Promise<void>): void {
    t.chain = t.chain.then(call).catch((error: unknown) => {
      if (movedOn(error)) this.#options.log.info({ tryId: t.tryId, code: (error as UpdraftError).code }, `the API refused the try's ${what}: it moved on`);
      else this.#options.log.error({ err: error, tryId: t.tryId }, `sending the try's ${what} to the API failed: ${errorMessage(error)}`);
    });
  }

  #flush(t: RunningTry): void {
    if (t.flushTimer) clearTimeout(t.flushTimer);
    t.flushTimer = null;
    const lines = t.lines.splice(0);
    if (lines.length > 0) this.#then(t, "log lines", () => this.#client.logs(t.tryId, t.token, lines));
  }

  #callbacks(): ExecutorCallbacks {
    const tryOf = (tryId: string): RunningTry => {
      const t = this.#tries.get(tryId);
      if (!t) throw new UpdraftError("UPDRAFT_E_TRY_INTERRUPTED", "the try is not running on this worker");
      return t;
    };
    return {
      // The API recorded the start already (the worker started the try there before running it).
      started: () => {},
      log: (tryId, lines) => {
        const t = this.#tries.get(tryId);
        if (!t) return;
        t.lines.push(...lines);
        t.flushTimer ??= setTimeout(() => this.#flush(t), LOG_FLUSH_MS);
      },
      xcomPush: (tryId, key, value) => {
        const t = this.#tries.get(tryId);
        if (t) this.#then(t, "XCom push", () => this.#client.pushXcom(tryId, t.token, key, value));
      },
      finished: (tryId, result: TryResult) => {
        const t = this.#tries.get(tryId);
        if (!t || t.ended) return;
        t.ended = true;
        if (t.flushTimer) clearTimeout(t.flushTimer);
        t.flushTimer = null;
        const lines = t.lines.splice(0);
        this.#then(t, "end", async () => {
          const state = await this.#client.finish(tryId, t.token, result, lines);
          this.#options.log.debug({ tryId, state }, "try ended");
        });
        void t.chain.then(() => {
          t.done();
          setTimeout(() => this.#tries.delete(tryId), ENDED_KEEP_MS).unref();
        });
      },
      pullXcom: async (tryId, taskId, key) => {
        const t = tryOf(tryId);
        await t.chain; // the try's own pushes first
        return this.#client.pullXcom(tryId, t.token, taskId, key);
      },
      readVariable: (tryId, key) => this.#client.variable(tryId, tryOf(tryId).token, key),
      readConnection: (tryId, connId) => this.#client.connection(tryId, tryOf(tryId).token, connId),
      loadBundle: async (hash) => {
        const t = [...this.#tries.values()].find((x) => x.bundleHash === hash && !x.ended);
        if (!t) throw new UpdraftError("UPDRAFT_E_DAG_VERSION_NOT_FOUND", `no try on this worker needs the bundle ${hash.slice(0, 12)}`);
        const code = await this.#client.bundle(t.token, hash);
        const actual = createHash("sha256").update(code).digest("hex");
        if (actual !== hash) throw new UpdraftError("UPDRAFT_E_BUNDLE_FAILED", `the bundle fetched for ${hash.slice(0, 12)} has the hash ${actual.slice(0, 12)}: not running it`);
        return code;
      },
    };
  }

  /** Every running try beats; one whose task instance moved on is stopped. */
  async #heartbeat(): Promise<void> {
    await Promise.all(
      [...this.#tries.values()]
        .filter((t) => !t.ended)
        .map(async (t) => {
          try {
            const answer = await this.#client.heartbeat(t.tryId, t.token);
            if (answer.stop) this.#executor.kill(t.tryId, `the task instance was set to ${answer.state ?? "deleted"} elsewhere`);
          } catch (error) {
            if (movedOn(error)) this.#executor.kill(t.tryId, "the API refused the try's heartbeat");
            else this.#options.log.warn({ err: error, tryId: t.tryId }, `a heartbeat failed: ${errorMessage(error)}`);
          }
        }),
    );
  }
}
