/**
 * The local executor: a pool of warm runner processes on this machine, one try per runner at a
 * time. A runner that times out, crashes, goes over its memory limit or is killed takes nothing
 * else down: its process group is killed and a fresh runner takes its place when needed.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { errorMessage, isStorageFull, isUpdraftError } from "../errors/index.js";
import type { FromRunner, LogLine, Lookup, LookupError, ToRunner, TryError, TryResult } from "../runner/protocol.js";
import { childEntry, forkChild, killGroup } from "../util/child.js";
import { formatDuration } from "../util/duration.js";
import { jsonDepth, MAX_JSON_DEPTH } from "../util/json-depth.js";
import { ensurePrivateDir, writePrivateFileAtomic } from "../util/private-files.js";
import type { Logger } from "../util/logger.js";
import type { TryPayload } from "../runner/protocol.js";
import type { DispatchItem, Executor, ExecutorCallbacks } from "./types.js";

export interface LocalExecutorOptions {
  maxRunners: number;
  warmRunners: number;
  memoryLimitMb: number;
  killGraceMs: number;
  bundleDir: string;
  log: Logger;
  /** Idle runners above `warmRunners` are stopped after this long. */
  idleTimeoutMs?: number;
}

interface Runner {
  child: ChildProcess;
  pid: number;
  ready: boolean;
  /** The try it runs, if any. */
  tryId: string | null;
  /** Set once the runner must not take more work (timed out, killed, over memory). */
  doomed: boolean;
  idleSince: number;
  stderr: string;
  /** Bundles this runner has imported: a try goes to a runner that knows its bundle if one is idle. */
  bundles: Set<string>;
}

interface ActiveTry {
  payload: TryPayload;
  runner: Runner;
  startedAt: number;
  timer: NodeJS.Timeout | null;
  ended: boolean;
}

const PAGE_SIZE = 4096;
/**
 * A new runner is started for a waiting try only when no runner has come free for this long:
 * short tries are served by the runners there are (a new one would pay a process start and a
 * bundle import to run what a busy one runs in a millisecond), long ones get their own.
 */
const SPAWN_AFTER_MS = 50;
const HOST = hostname();

export class LocalExecutor implements Executor {
  readonly name = "local";
  readonly #options: LocalExecutorOptions;
  readonly #runners = new Set<Runner>();
  readonly #tries = new Map<string, ActiveTry>();
  readonly #queue: DispatchItem[] = [];
  /** When the try at the head of the queue began to wait, or a runner last came free if later. */
  #waitingSince = 0;
  #spawnTimer: NodeJS.Timeout | null = null;
  readonly #writtenBundles = new Set<string>();
  #callbacks: ExecutorCallbacks | null = null;
  #monitor: NodeJS.Timeout | null = null;
  /** Set while the bundle cache's disk is full: the queue waits for it. */
  #diskFullRetry: NodeJS.Timeout | null = null;
  #bundleDiskFull = false;
  #stopping = false;

  constructor(options: LocalExecutorOptions) {
    this.#options = options;
  }

  async start(callbacks: ExecutorCallbacks): Promise<void> {
    this.#callbacks = callbacks;
    await ensurePrivateDir(this.#options.bundleDir);
    for (let i = 0; i < Math.min(this.#options.warmRunners, this.#options.maxRunners); i++) this.#spawn();
    this.#monitor = setInterval(() => this.#checkRunners(), 500);
    this.#monitor.unref();
  }

  freeSlots(): number {
    return Math.max(0, this.#options.maxRunners - this.#tries.size - this.#queue.length);
  }

  activeTryIds(): string[] {
    return [...this.#tries.keys(), ...this.#queue.map((p) => p.tryId)];
  }

  dispatch(tries: DispatchItem[]): void {
    if (this.#queue.length === 0 && tries.length > 0) this.#waitingSince = Date.now();
    for (const payload of tries) this.#queue.push(payload);
    void this.#drain();
  }

  #draining = false;
  async #drain(): Promise<void> {
    if (this.#draining || this.#diskFullRetry) return;
    this.#draining = true;
    try {
      while (this.#queue.length > 0 && !this.#stopping) {
        const runner = this.#idleRunner(this.#queue[0]!.bundleHash);
        if (!runner) return; // a runner that becomes ready drains again
        const item = this.#queue.shift()!;
        let payload: TryPayload;
        try {
          payload = { ...item, bundlePath: await this.#ensureBundle(item.bundleHash) };
        } catch (error) {
          if (isStorageFull(error)) {
            // The try has not started: it waits in the queue for space (a retry would be lost on it).
            this.#queue.unshift(item);
            if (!this.#bundleDiskFull) this.#options.log.error({ bundleDir: this.#options.bundleDir }, `a DAG bundle cannot be written, the disk is full (${errorMessage(error)}); queued tries wait, trying again every second`);
            this.#bundleDiskFull = true;
            this.#diskFullRetry = setTimeout(() => {
              this.#diskFullRetry = null;
              void this.#drain();
            }, 1_000);
            this.#diskFullRetry.unref();
            return;
          }
          this.#callbacks!.finished(item.tryId, {
            outcome: "failed",
            error: { message: `the DAG bundle could not be prepared: ${errorMessage(error)}`, code: "UPDRAFT_E_INTERNAL", stack: null, retryable: true },
            at: Date.now(),
          });
          continue;
        }
        if (!runner.ready || runner.doomed || runner.tryId !== null) {
          this.#queue.unshift(item);
          continue;
        }
        runner.tryId = payload.tryId;
        runner.bundles.add(payload.bundleHash);
        const active: ActiveTry = { payload, runner, startedAt: Date.now(), timer: null, ended: false };
        this.#tries.set(payload.tryId, active);
        // A warm runner starts a try the moment it reads it: the try counts as started (and its
        // execution timeout runs) from here, which saves a message per try.
        this.#send(runner, { t: "run", payload });
        const timeout = payload.executionTimeoutMs;
        if (timeout !== null) active.timer = setTimeout(() => this.#timeout(active, timeout), timeout);
        this.#callbacks!.started(payload.tryId, { hostname: HOST, pid: runner.pid, at: active.startedAt });
      }
    } finally {
      this.#draining = false;
    }
  }

  #idleRunner(bundleHash: string): Runner | null {
    let starting = 0;
    let idle: Runner | null = null;
    for (const r of this.#runners) {
      if (r.doomed) continue;
      if (r.ready && r.tryId === null) {
        if (r.bundles.has(bundleHash)) return r;
        idle ??= r;
      }
      if (!r.ready) starting++;
    }
    if (idle) return idle;
    const busy = [...this.#runners].filter((r) => !r.doomed && r.tryId !== null).length;
    if (busy + starting < this.#options.maxRunners && starting < this.#queue.length) {
      const waited = Date.now() - this.#waitingSince;
      if (busy === 0 || waited >= SPAWN_AFTER_MS) this.#spawn();
      else if (!this.#spawnTimer) {
        this.#spawnTimer = setTimeout(() => {
          this.#spawnTimer = null;
          void this.#drain();
        }, SPAWN_AFTER_MS - waited);
        this.#spawnTimer.unref();
      }
    }
    return null;
  }

  /** A runner came free: tries waiting for one are being served. */
  #freed(runner: Runner): void {
    runner.idleSince = Date.now();
    this.#waitingSince = runner.idleSince;
  }

  /** Writes the bundle where runners import it from (once per hash); returns its path. */
  async #ensureBundle(hash: string): Promise<string> {
    const path = join(this.#options.bundleDir, `${hash}.mjs`);
    if (this.#writtenBundles.has(hash)) return path;
    if (!existsSync(path)) {
      const code = await this.#callbacks!.loadBundle(hash);
      await writePrivateFileAtomic(path, code);
      if (this.#bundleDiskFull) this.#options.log.info("DAG bundles can be written again");
      this.#bundleDiskFull = false;
    }
    this.#writtenBundles.add(hash);
    for (const runner of this.#runners) this.#preload(runner);
    return path;
  }

  /**
   * An idle runner imports the bundles of the tries waiting in the queue (already written) before
   * one is handed to it, so that imports run side by side instead of in front of each first try.
   */
  #preload(runner: Runner): void {
    if (!runner.ready || runner.doomed || runner.tryId !== null) return;
    for (const item of this.#queue) {
      if (runner.bundles.has(item.bundleHash) || !this.#writtenBundles.has(item.bundleHash)) continue;
      runner.bundles.add(item.bundleHash);
      this.#send(runner, { t: "preload", bundleHash: item.bundleHash, bundlePath: join(this.#options.bundleDir, `${item.bundleHash}.mjs`) });
    }
  }

  #spawn(): Runner {
    const child = forkChild(childEntry(import.meta.url, "../runner/runner-main"), {
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      execArgv: [`--max-old-space-size=${this.#options.memoryLimitMb}`],
    });
    const runner: Runner = { child, pid: child.pid ?? -1, ready: false, tryId: null, doomed: false, idleSince: Date.now(), stderr: "", bundles: new Set() };
    const keepTail = (chunk: Buffer) => {
      runner.stderr = (runner.stderr + chunk.toString()).slice(-4000);
    };
    child.stdout?.on("data", keepTail);
    child.stderr?.on("data", keepTail);
    child.on("message", (message: FromRunner) => {
      // A runner runs author code, which can send anything on the channel: a message that does
      // not make sense costs that runner its life, never the executor its.
      try {
        this.#onMessage(runner, message);
      } catch (error) {
        runner.stderr += `\nthe runner sent a message that makes no sense: ${errorMessage(error)}`;
        this.#killRunner(runner);
      }
    });
    child.on("error", () => {});
    child.once("exit", (code, signal) => this.#onExit(runner, code, signal));
    this.#runners.add(runner);
    return runner;
  }

  #send(runner: Runner, message: ToRunner): void {
    try {
      if (runner.child.connected) runner.child.send(message);
    } catch {
      // The channel closed meanwhile: the runner's exit is handled by its exit event.
    }
  }

  #onMessage(runner: Runner, message: FromRunner): void {
    const callbacks = this.#callbacks!;
    if (typeof message !== "object" || message === null) throw new Error("not an object");
    // Every report about a try must come from the runner that runs it.
    if (message.t !== "ready" && (typeof message.tryId !== "string" || runner.tryId !== message.tryId)) {
      throw new Error(`a report about try ${String((message as { tryId?: unknown }).tryId)}, which this runner does not run`);
    }
    switch (message.t) {
      case "ready":
        runner.ready = true;
        this.#freed(runner);
        this.#preload(runner);
        void this.#drain();
        return;
      case "log": {
        if (!Array.isArray(message.lines)) throw new Error("log lines are not an array");
        const lines = message.lines.map((l) => ({
          ts: Number(l.ts) || Date.now(),
          stream: l.stream === "stdout" || l.stream === "stderr" ? l.stream : "log",
          level: l.level === "warn" || l.level === "error" ? l.level : "info",
          // PostgreSQL text cannot hold NUL characters.
          message: String(l.message).replaceAll("\u0000", "\uFFFD"),
        })) satisfies LogLine[];
        // Also after the try ended (a timeout or a kill): what its abort handlers log still counts.
        callbacks.log(message.tryId, lines);
        return;
      }
      case "xcomPush": {
        const active = this.#tries.get(message.tryId);
        if (typeof message.key !== "string" || typeof message.value !== "string") throw new Error("an XCom push without key or value");
        checkJson(message.value, active?.payload.xcomMaxBytes ?? 0);
        if (active?.ended === false) callbacks.xcomPush(message.tryId, message.key, message.value);
        return;
      }
      case "xcomPull":
        if (typeof message.taskId !== "string" || typeof message.key !== "string") throw new Error("an XCom pull without task id or key");
        void callbacks.pullXcom(message.tryId, message.taskId, message.key).then(
          (value) => this.#send(runner, { t: "xcom", reqId: message.reqId, value }),
          () => this.#send(runner, { t: "xcom", reqId: message.reqId, value: null }),
        );
        return;
      case "variableGet":
        if (!validId(message.key)) throw new Error("a variable lookup without a valid key");
        this.#answer(runner, message.tryId, (tryId) => callbacks.readVariable(tryId, message.key), (answer) => ({ t: "variable", reqId: message.reqId, answer }));
        return;
      case "connectionGet":
        if (!validId(message.connId)) throw new Error("a connection lookup without a valid id");
        this.#answer(runner, message.tryId, (tryId) => callbacks.readConnection(tryId, message.connId), (answer) => ({ t: "connection", reqId: message.reqId, answer }));
        return;
      case "finished": {
        const active = this.#tries.get(message.tryId);
        if (active && !active.ended) this.#end(active, checkResult(message.result, active.payload.xcomMaxBytes));
        if (runner.tryId === message.tryId) {
          runner.tryId = null;
          this.#freed(runner);
          if (runner.doomed) this.#killRunner(runner);
        }
        void this.#drain();
        return;
      }
    }
  }

  /**
   * Answers a variable or connection lookup of a try that is still running, and only to the
   * runner that runs it: secrets are never handed to a try that ended (timed out, killed).
   */
  #answer<T>(runner: Runner, tryId: string, read: (tryId: string) => Promise<T | null>, reply: (answer: Lookup<T>) => ToRunner): void {
    const running = () => runner.tryId === tryId && this.#tries.get(tryId)?.ended === false;
    if (!running()) {
      this.#send(runner, reply({ error: { code: "UPDRAFT_E_TRY_INTERRUPTED", message: "the try has ended", hint: null } }));
      return;
    }
    void read(tryId).then(
      (value) => {
        if (running()) this.#send(runner, reply({ value }));
      },
      (error: unknown) => {
        if (running()) this.#send(runner, reply({ error: lookupError(error) }));
      },
    );
  }

  #end(active: ActiveTry, result: Parameters<ExecutorCallbacks["finished"]>[1]): void {
    active.ended = true;
    if (active.timer) clearTimeout(active.timer);
    this.#tries.delete(active.payload.tryId);
    this.#callbacks!.finished(active.payload.tryId, result);
  }

  #fail(active: ActiveTry, error: TryError, at = Date.now()): void {
    this.#callbacks!.log(active.payload.tryId, [{ ts: at, stream: "log", level: "error", message: error.message }]);
    this.#end(active, { outcome: "failed", error, at });
  }

  /**
   * The try's time is up: it fails now (the scheduler can retry it at once), its signal fires,
   * and after the grace period its process group is killed unless it stopped by itself.
   */
  #timeout(active: ActiveTry, timeoutMs: number): void {
    if (active.ended) return;
    const runner = active.runner;
    this.#stopTry(runner, active.payload.tryId, `execution timeout of ${formatDuration(timeoutMs)} reached`);
    // Timers run on a coarser clock than Date.now(): the recorded end is never before the limit.
    this.#fail(
      active,
      { message: `the try ran longer than its executionTimeout of ${formatDuration(timeoutMs)} and was stopped`, code: "UPDRAFT_E_TASK_TIMEOUT", stack: null, retryable: true },
      Math.max(Date.now(), active.startedAt + timeoutMs),
    );
  }

  /** Aborts the try on its runner, then kills the runner if it has not stopped within the grace. */
  #stopTry(runner: Runner, tryId: string, reason: string): void {
    runner.doomed = true; // a runner that held a stopped try is not trusted with another
    this.#send(runner, { t: "abort", tryId, reason });
    setTimeout(() => this.#killRunner(runner), this.#options.killGraceMs).unref();
  }

  kill(tryId: string, reason: string): void {
    const queued = this.#queue.findIndex((p) => p.tryId === tryId);
    if (queued >= 0) {
      const [payload] = this.#queue.splice(queued, 1);
      this.#callbacks!.finished(payload!.tryId, { outcome: "failed", error: { message: `killed: ${reason}`, code: null, stack: null, retryable: false }, at: Date.now() });
      return;
    }
    const active = this.#tries.get(tryId);
    if (!active || active.ended) return;
    this.#stopTry(active.runner, tryId, reason);
    this.#fail(active, { message: `the try was killed: ${reason}`, code: null, stack: null, retryable: false });
  }

  #killRunner(runner: Runner): void {
    runner.doomed = true;
    killGroup(runner.child); // the whole group: bash and anything it started
  }

  #onExit(runner: Runner, code: number | null, signal: NodeJS.Signals | null): void {
    this.#runners.delete(runner);
    killGroup(runner.child); // what its task started does not outlive it
    if (runner.tryId !== null) {
      const active = this.#tries.get(runner.tryId);
      if (active && !active.ended) {
        const outOfMemory = /heap out of memory|Allocation failed/i.test(runner.stderr);
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        this.#fail(
          active,
          outOfMemory
            ? { message: `the runner process ran out of memory (limit ${this.#options.memoryLimitMb} MB) and ${how}`, code: "UPDRAFT_E_RUNNER_MEMORY", stack: null, retryable: true }
            : { message: `the runner process ${how} while the try ran${runner.stderr.trim() ? `; its last output: ${runner.stderr.trim().split("\n").slice(-5).join(" | ")}` : ""}`, code: "UPDRAFT_E_RUNNER_CRASHED", stack: null, retryable: true },
        );
      }
    }
    if (!this.#stopping) void this.#drain();
  }

  /** Memory limit and idle reaping, twice a second. */
  #checkRunners(): void {
    const now = Date.now();
    const limitBytes = this.#options.memoryLimitMb * 1024 * 1024;
    let idle = [...this.#runners].filter((r) => r.ready && !r.doomed && r.tryId === null).length;
    for (const runner of this.#runners) {
      if (runner.tryId !== null && !runner.doomed) {
        const rss = residentBytes(runner.pid);
        const active = this.#tries.get(runner.tryId);
        if (rss !== null && rss > limitBytes && active && !active.ended) {
          this.#stopTry(runner, runner.tryId, "memory limit exceeded");
          this.#fail(active, {
            message: `the try used ${Math.round(rss / 1024 / 1024)} MB, more than the runner memory limit of ${this.#options.memoryLimitMb} MB, and was killed`,
            code: "UPDRAFT_E_RUNNER_MEMORY",
            stack: null,
            retryable: true,
          });
        }
      } else if (runner.ready && runner.tryId === null && idle > this.#options.warmRunners && now - runner.idleSince > (this.#options.idleTimeoutMs ?? 30_000)) {
        idle--;
        this.#killRunner(runner);
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#monitor) clearInterval(this.#monitor);
    if (this.#spawnTimer) clearTimeout(this.#spawnTimer);
    if (this.#diskFullRetry) clearTimeout(this.#diskFullRetry);
    const exits = [...this.#runners].map((r) => new Promise<void>((resolve) => {
      if (r.child.exitCode !== null || r.child.signalCode !== null) resolve();
      else r.child.once("exit", () => resolve());
    }));
    for (const runner of this.#runners) this.#killRunner(runner);
    await Promise.all(exits);
  }
}

const validId = (id: unknown): id is string => typeof id === "string" && id.length > 0 && id.length <= 250;

/** What a runner is told when a lookup failed: an UpdraftError's code, message and hint, else only that it failed. */
function lookupError(error: unknown): LookupError {
  if (isUpdraftError(error)) return { code: error.code, message: error.message, hint: error.hint ?? null };
  return { code: "UPDRAFT_E_INTERNAL", message: "the lookup failed in the scheduler; its log says why", hint: null };
}

function checkJson(text: string, maxBytes: number): void {
  if (Buffer.byteLength(text) > maxBytes) throw new Error("a value larger than the XCom limit");
  if (jsonDepth(JSON.parse(text)) > MAX_JSON_DEPTH) throw new Error(`a value nested more than ${MAX_JSON_DEPTH} levels deep`);
}

/** The result as the runner reported it, if it is well formed; a failure saying so if not. */
function checkResult(result: TryResult, maxBytes: number): TryResult {
  try {
    if (!["success", "failed", "skipped"].includes(result.outcome)) throw new Error(`outcome ${String(result.outcome)}`);
    if (result.output !== undefined) {
      if (typeof result.output !== "string") throw new Error("an output that is not JSON text");
      checkJson(result.output, maxBytes);
    }
    const error = result.error && {
      message: String(result.error.message),
      code: typeof result.error.code === "string" ? result.error.code : null,
      stack: typeof result.error.stack === "string" ? result.error.stack : null,
      retryable: result.error.retryable !== false,
    };
    return { outcome: result.outcome, ...(result.output !== undefined ? { output: result.output } : {}), ...(error ? { error } : {}), at: Number(result.at) || Date.now() };
  } catch (error) {
    return { outcome: "failed", error: { message: `the runner reported a result that makes no sense: ${errorMessage(error)}`, code: "UPDRAFT_E_INTERNAL", stack: null, retryable: false }, at: Date.now() };
  }
}

function residentBytes(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/statm`, "utf8").split(" ");
    return Number(fields[1]) * PAGE_SIZE;
  } catch {
    return null;
  }
}
