/**
 * `updraft worker`: runs tries on this machine for a scheduler elsewhere. It takes try messages
 * from its broker queues, starts each try through the task-execution API (which hands it the
 * try's payload), and runs it in a warm runner process of a local executor, the same code as the
 * scheduler's own; the runner's reports (logs, XComs, lookups, the end) go to the API over HTTP
 * instead of into a store. A worker holds no database credentials and no DAGs folder: it fetches
 * the bundles its tries need by content hash and checks the hash.
 */
import { createHash, randomUUID } from "node:crypto";
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
  /** A report of the try the API never took (an XCom push): its end is then reported as a failure. */
  lost: string | null;
  /** Lines not sent yet. */
  lines: LogLine[];
  flushTimer: NodeJS.Timeout | null;
  /** The try's calls to the API, in the order the runner made them (an XCom push before the end). */
  chain: Promise<void>;
  ended: boolean;
  done: () => void;
  /** When the API last took a beat of the try (its start counts as one). */
  beatAt: number;
  /** The try is killed when its beats fail this long: before the scheduler counts it a zombie. */
  fenceAfterMs: number;
  fenced: boolean;
  /** Stopped by a stopping worker and handed back: its end is not reported. */
  handedBack: boolean;
}

/** Refusals that mean the try is not this worker's to run or report any more. */
const MOVED_ON = new Set(["UPDRAFT_E_TRY_STALE", "UPDRAFT_E_TRY_UNKNOWN", "UPDRAFT_E_TRY_DUPLICATE", "UPDRAFT_E_TOKEN_INVALID", "UPDRAFT_E_FORBIDDEN"]);
const movedOn = (error: unknown) => isUpdraftError(error) && MOVED_ON.has(error.code);
/** An answer that may differ next time: no answer at all, a server error, a rate limit. */
function transient(error: unknown): boolean {
  if (!isUpdraftError(error)) return true;
  const status = (error.details as { status?: number } | undefined)?.status ?? 0;
  return status >= 500 || status === 429 || status === 408;
}
/** How long a stopping worker waits for the reports still on their way. */
const STOP_REPORTS_MS = 5_000;
/** How long a report of a try is tried again while the API cannot take it. */
const REPORT_PATIENCE_MS = 5 * 60_000;
/** A batch of log lines stays below these (the API's limits are 10,000 lines and its body limit). */
const LOG_BATCH_LINES = 2_000;
const LOG_BATCH_BYTES = 512 * 1024;
/** An error's message and stack are cut to this before they are reported (the API takes 64 KiB). */
const ERROR_TEXT_MAX = 60 * 1024;

const clean = (text: string, max: number) => {
  // NUL means nothing in a log or an error, and the API refuses it (PostgreSQL cannot store it).
  const bare = text.includes("\u0000") ? text.replaceAll("\u0000", "\ufffd") : text;
  return bare.length > max ? `${bare.slice(0, max)}… (cut)` : bare;
};

/** Calls `call` until it is answered, or refused for good, within `patienceMs` (backing off up to 5 s). */
async function patiently<T>(call: () => Promise<T>, patienceMs: number): Promise<T> {
  const deadline = Date.now() + patienceMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!transient(error) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
    }
  }
}

/** Log lines in batches the API takes, the runner's order kept. */
function batches(lines: readonly LogLine[]): LogLine[][] {
  const out: LogLine[][] = [];
  let batch: LogLine[] = [];
  let bytes = 0;
  for (const l of lines) {
    const line = l.message.includes("\u0000") ? { ...l, message: clean(l.message, Infinity) } : l;
    const size = line.message.length * 3 + 64;
    if (batch.length > 0 && (batch.length >= LOG_BATCH_LINES || bytes + size > LOG_BATCH_BYTES)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(line);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

export class Worker {
  readonly #options: WorkerOptions;
  readonly #client: ExecutionClient;
  readonly #executor: LocalExecutor;
  readonly #tries = new Map<string, RunningTry>();
  readonly #host = hostname();
  #consumer: BrokerConsumer | null = null;
  #beat: NodeJS.Timeout | null = null;
  #stopping = false;
  /** A secret of this process: the API answers a start asked again only to the claim that started it. */
  readonly #claim = randomUUID();
  #beatMs: number;
  #stopped: Promise<void> | null = null;
  #hurry: (() => void) | null = null;

  constructor(options: WorkerOptions) {
    this.#options = options;
    this.#beatMs = options.heartbeatIntervalMs;
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

  async start(): Promise<void> {
    await this.#executor.start(this.#callbacks());
    this.#beat = setInterval(() => void this.#heartbeat(), this.#beatMs);
    this.#beat.unref();
    this.#consumer = await this.#options.broker.consume(this.#options.queues, this.#options.concurrency, (m) => this.#run(m));
    this.#options.log.info({ queues: this.#options.queues, concurrency: this.#options.concurrency, api: this.#options.apiUrl }, "worker started");
  }

  /**
   * Stops taking tries, lets the running ones end within `graceMs` (they keep beating), then hands
   * the rest back through the API (they run again elsewhere without using up a retry) and stops
   * the runners. `hurry()` ends the grace at once (a second SIGTERM).
   */
  async stop(graceMs = 0): Promise<void> {
    if (this.#stopping) return this.#stopped ?? undefined;
    this.#stopping = true;
    this.#stopped = (async () => {
      const consumer = this.#consumer;
      this.#consumer = null;
      // Closing the consumer waits for the messages being handled, that is for the running tries.
      const closing = consumer?.close() ?? Promise.resolve();
      let timer: NodeJS.Timeout | null = null;
      await Promise.race([closing, new Promise<void>((resolve) => ((this.#hurry = resolve), (timer = setTimeout(resolve, graceMs))))]);
      if (timer) clearTimeout(timer);
      const left = [...this.#tries.values()].filter((t) => !t.ended);
      if (left.length > 0) this.#options.log.warn({ tries: left.length, graceMs }, "handing back the tries still running: they run again elsewhere without using up a retry");
      // Stopped here first (their ends are not reported): handed back, they may start elsewhere at once.
      for (const t of left) {
        t.handedBack = true;
        this.#executor.kill(t.tryId, "its worker is stopping; the try is handed back");
      }
      await Promise.all(
        left.map((t) =>
          patiently(() => this.#client.handBack(t.tryId, t.token), 10_000).catch((error: unknown) => {
            if (!movedOn(error)) this.#options.log.error({ err: error, tryId: t.tryId }, `handing back a try failed (it is a zombie once its beats stop): ${errorMessage(error)}`);
          }),
        ),
      );
      if (this.#beat) clearInterval(this.#beat);
      await this.#executor.stop();
      // A stopping executor settles nothing more: the tries it still held were handed back above
      // (or are zombies once their beats stop). Reports still on their way get a few seconds
      // (an API out of reach would hold them for minutes); then the messages are done with here.
      const reports = Promise.all([...this.#tries.values()].map((t) => t.chain));
      await Promise.race([reports, new Promise((r) => setTimeout(r, STOP_REPORTS_MS).unref())]);
      for (const t of this.#tries.values()) {
        t.ended = true;
        t.done();
      }
      await Promise.race([closing, new Promise((r) => setTimeout(r, STOP_REPORTS_MS).unref())]);
    })();
    return this.#stopped;
  }

  /**
   * Beats often enough for the fence the API asks (four beats within it), whatever this worker's
   * own interval: a try whose beats all fail for fenceAfterMs is stopped, not one that missed one.
   */
  #beatEvery(fenceAfterMs: number): void {
    const wanted = Math.max(50, Math.min(this.#options.heartbeatIntervalMs, Math.floor(fenceAfterMs / 4)));
    if (wanted >= this.#beatMs || !this.#beat || this.#stopping) return;
    this.#beatMs = wanted;
    clearInterval(this.#beat);
    this.#beat = setInterval(() => void this.#heartbeat(), wanted);
    this.#beat.unref();
  }

  /** Ends the grace of a stop at once. */
  hurry(): void {
    this.#hurry?.();
  }

  /** One broker message: start the try, run it, resolve once its end is reported (or it is not ours). */
  async #run(message: TryMessage): Promise<void> {
    const { tryId } = message;
    // Stopping: the message goes back to the broker for another worker (or this one, later).
    if (this.#stopping) throw new Error("this worker is stopping");
    const known = this.#tries.get(tryId);
    if (known && !known.ended) {
      this.#options.log.debug({ tryId }, "dropping a second delivery of a try that runs here");
      return;
    }
    let answer;
    try {
      // The same process asking again after a lost answer gets the payload again.
      answer = await patiently(() => this.#client.start(tryId, message.token, { hostname: this.#host, pid: process.pid, claim: this.#claim }), 30_000);
    } catch (error) {
      if (movedOn(error)) {
        this.#options.log.debug({ tryId, code: (error as UpdraftError).code }, "dropping a try that is not this worker's to run");
        return;
      }
      throw error;
    }
    const { payload, token, fenceAfterMs } = answer;
    // Started while this worker began to stop: it goes back at once, unrun.
    if (this.#stopping) {
      await patiently(() => this.#client.handBack(tryId, token), 10_000).catch((error: unknown) => {
        if (!movedOn(error)) this.#options.log.error({ err: error, tryId }, `handing back a try failed (it is a zombie once its beats stop): ${errorMessage(error)}`);
      });
      return;
    }
    this.#beatEvery(fenceAfterMs);
    await new Promise<void>((done) => {
      this.#tries.set(tryId, { tryId, token, bundleHash: payload.bundleHash, lost: null, lines: [], flushTimer: null, chain: Promise.resolve(), ended: false, done, beatAt: Date.now(), fenceAfterMs, fenced: false, handedBack: false });
      this.#executor.dispatch([payload]);
    });
  }

  /**
   * Runs `call` after the try's earlier calls, again while the API cannot answer; a refusal or a
   * report never taken is logged (and returned: the caller may report the try's end otherwise).
   */
  #then(t: RunningTry, what: string, call: () => Promise<void>, onLost?: (error: unknown) => void): void {
    t.chain = t.chain
      .then(() => patiently(call, REPORT_PATIENCE_MS))
      .catch((error: unknown) => {
        if (movedOn(error)) this.#options.log.info({ tryId: t.tryId, code: (error as UpdraftError).code }, `the API refused the try's ${what}: it moved on`);
        else {
          this.#options.log.error({ err: error, tryId: t.tryId }, `sending the try's ${what} to the API failed: ${errorMessage(error)}`);
          onLost?.(error);
        }
      });
  }

  #flush(t: RunningTry): void {
    if (t.flushTimer) clearTimeout(t.flushTimer);
    t.flushTimer = null;
    for (const batch of batches(t.lines.splice(0))) this.#then(t, "log lines", () => this.#client.logs(t.tryId, t.token, batch));
  }

  /** Reports the end: the result as the runner gave it, or a failure the API can take when it refuses that one. */
  async #reportEnd(t: RunningTry, result: TryResult, lines: LogLine[]): Promise<void> {
    const error = result.error ? { ...result.error, message: clean(result.error.message, ERROR_TEXT_MAX), stack: result.error.stack === null ? null : clean(result.error.stack, ERROR_TEXT_MAX) } : undefined;
    let reported: TryResult = t.lost
      ? { outcome: "failed", at: result.at, error: { message: t.lost, code: null, stack: null, retryable: true } }
      : { ...result, ...(error ? { error } : {}) };
    const parts = batches(lines);
    for (const batch of parts.slice(0, -1)) await patiently(() => this.#client.logs(t.tryId, t.token, batch), REPORT_PATIENCE_MS);
    const last = parts.at(-1) ?? [];
    try {
      await patiently(() => this.#client.finish(t.tryId, t.token, reported, last), REPORT_PATIENCE_MS);
    } catch (failure) {
      if (transient(failure) || movedOn(failure)) throw failure;
      // The API refused what the try returned (an output above its limit, say): the try fails with why.
      reported = { outcome: "failed", at: result.at, error: { message: clean(`the try's result was refused by the API: ${errorMessage(failure)}`, ERROR_TEXT_MAX), code: null, stack: null, retryable: false } };
      await patiently(() => this.#client.finish(t.tryId, t.token, reported, []), REPORT_PATIENCE_MS);
    }
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
        if (t) {
          this.#then(t, "XCom push", () => this.#client.pushXcom(tryId, t.token, key, value), (error) => {
            t.lost ??= `the XCom '${key}' the try pushed could not be stored: ${errorMessage(error)}`;
          });
        }
      },
      finished: (tryId, result: TryResult) => {
        const t = this.#tries.get(tryId);
        if (!t || t.ended) return;
        t.ended = true;
        if (t.handedBack) {
          // Killed to be handed back: the hand-back, not this end, is what the API hears.
          t.lines = [];
          void t.chain.then(() => t.done());
          return;
        }
        if (t.flushTimer) clearTimeout(t.flushTimer);
        t.flushTimer = null;
        const lines = t.lines.splice(0);
        // Not through #then's retries: #reportEnd retries itself, and may report a failure instead.
        t.chain = t.chain
          .then(() => this.#reportEnd(t, result, lines))
          .catch((error: unknown) => {
            if (movedOn(error)) this.#options.log.info({ tryId, code: (error as UpdraftError).code }, "the API refused the try's end: it moved on");
            else this.#options.log.error({ err: error, tryId }, `the try's end could not be reported: ${errorMessage(error)} (the scheduler fails it once its heartbeats stop)`);
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
          // Self-fencing: a try whose beats the API has not taken for fenceAfterMs is stopped
          // here, before the scheduler (which sees the same silence) may run it again elsewhere.
          // Checked at every beat, whether or not the beats before it have been answered.
          if (!t.fenced && Date.now() - t.beatAt > t.fenceAfterMs) {
            t.fenced = true;
            this.#options.log.error({ tryId: t.tryId, silentMs: Date.now() - t.beatAt }, "the API has not taken this try's beats for too long: stopping it (self-fencing)");
            this.#executor.kill(t.tryId, "its worker lost the API (self-fencing)");
            return;
          }
          try {
            const answer = await this.#client.heartbeat(t.tryId, t.token);
            t.beatAt = Math.max(t.beatAt, Date.now());
            if (answer.token) t.token = answer.token; // its token was about to expire: the try runs long
            if (answer.stop) this.#executor.kill(t.tryId, `the task instance was set to ${answer.state ?? "deleted"} elsewhere`);
          } catch (error) {
            if (movedOn(error)) this.#executor.kill(t.tryId, "the API refused the try's heartbeat");
            else this.#options.log.warn({ err: error, tryId: t.tryId }, `a heartbeat failed: ${errorMessage(error)}`);
          }
        }),
    );
  }
}
