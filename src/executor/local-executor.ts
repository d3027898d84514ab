/**
 * The local executor: a pool of warm runner processes on this machine, each running one try at a
 * time. While tries are short, each runner also holds a queue of the next ones, filled several
 * per IPC message: it goes from one try to the next without waiting for this process, and one
 * message back reports "A finished, B started". Short tries keep to the runners that built
 * their DAG; tries stuck behind a long one are taken back for a free runner. A runner that times
 * out, crashes, goes over its memory limit or is killed takes nothing else down: its process
 * group is killed, the tries it had not started go to another runner, and a fresh runner takes
 * its place when needed. See docs/ARCHITECTURE.md ("Local executor").
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { errorMessage, isStorageFull, isUpdraftError } from "../errors/index.js";
import type { FromRunner, LogLine, Lookup, LookupError, ToRunner, TryError, TryResult } from "../runner/protocol.js";
import { childEntry, forkChild, killGroup } from "../util/child.js";
import { formatDuration } from "../util/duration.js";
import { EarliestTimer } from "../util/earliest-timer.js";
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
  current: ActiveTry | null;
  /** Tries sent to it that it has not started yet, in the order it will run them. */
  queued: ActiveTry[];
  /** Set once the runner must not take more work (timed out, killed, over memory). */
  doomed: boolean;
  idleSince: number;
  stderr: string;
  /** Bundles this runner has imported (or been told to). */
  bundles: Set<string>;
  /**
   * DAGs whose body it has built (bundle hash and DAG id): building a large DAG costs a runner
   * far more than a short try, so short tries go to runners that built their DAG already.
   */
  dags: Set<string>;
  /** The try it ran last: lines that try still logs on its way out are kept. */
  previous: string | null;
  /**
   * When this process last read a message from it: a try counts as long only while its runner
   * has been silent (after a pause of this process, its reports read late are not a long try).
   */
  heardAt: number;
}

/** A try handed to a runner: queued on it (startedAt null) or running there. */
interface ActiveTry {
  payload: TryPayload;
  runner: Runner;
  startedAt: number | null;
  /**
   * When its task's code began: its start, or, for the first try of its DAG on the runner, once
   * the runner said the DAG is built (null until then).
   */
  codeAt: number | null;
  /** The first try of its DAG on its runner: the runner builds the DAG before its code runs. */
  first: boolean;
  timer: NodeJS.Timeout | null;
  /** Its `finished` callback was made (it may still be on the runner, stopping). */
  ended: boolean;
  /** Asked back from the runner's queue; the answer has not come yet. */
  revoking: boolean;
}

const PAGE_SIZE = 4096;
/** Bundles fetched and written at once when new DAGs' tries arrive. */
const BUNDLES_AT_ONCE = 8;

/**
 * A new runner is started for a waiting try only when no try has ended for this long: short
 * tries are served by the runners there are (a new one would pay a process start and a bundle
 * import to run what a busy one runs in a millisecond), long ones get their own.
 */
const SPAWN_AFTER_MS = 50;
/**
 * Tries are sent ahead to a runner while tries are short: about PREFETCH_MS of work per runner
 * (at most PREFETCH_MAX tries, the running one included), so that it goes from one to the next
 * without a round trip and one IPC message carries many. Tries that take longer than that go one
 * per runner, as runners come free.
 */
const PREFETCH_MS = 20;
const PREFETCH_MAX = 32;
/** Tries queued behind one that has run this long are taken back for a runner that is free. */
const STEAL_AFTER_MS = 50;
/** … and behind one whose DAG is still being built after this long. */
const BUILD_WAIT_MS = 5_000;
/** How long an exited runner's last reports get to arrive before its tries are settled. */
const EXIT_DRAIN_MS = 1_000;
const HOST = hostname();

export class LocalExecutor implements Executor {
  readonly name = "local";
  readonly #options: LocalExecutorOptions;
  readonly #runners = new Set<Runner>();
  /** Every try handed to a runner and not yet ended, by try id. */
  readonly #tries = new Map<string, ActiveTry>();
  /** Tries not handed to a runner yet. */
  readonly #queue: DispatchItem[] = [];
  /** When a try last ended on a runner that can take more, or the queue last began to wait if later. */
  #progressAt = 0;
  /** Average time a try takes on its runner (moving), null until one ended. */
  #averageTryMs: number | null = null;

  /** Comes back for tries stuck behind long ones, or to start a runner for waiting tries. */
  readonly #wake = new EarliestTimer(() => void this.#drain(), 1);
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

  /**
   * Starts the warm runners now, before `start` (a one-off command warms them while it processes
   * the DAGs folder, so that starting processes is not in front of its first tries).
   */
  warm(): void {
    const warm = Math.min(this.#options.warmRunners, this.#options.maxRunners);
    for (let i = this.#runners.size; i < warm; i++) this.#spawn();
  }

  async start(callbacks: ExecutorCallbacks): Promise<void> {
    this.#callbacks = callbacks;
    await ensurePrivateDir(this.#options.bundleDir);
    this.warm();
    this.#monitor = setInterval(() => this.#checkRunners(), 500);
    this.#monitor.unref();
  }

  /** Tries sent ahead per runner: many while tries are short (and none is running long), else one. */
  #depth(): number {
    if (this.#averageTryMs === null) return 1;
    const depth = Math.min(PREFETCH_MAX, Math.floor(PREFETCH_MS / Math.max(this.#averageTryMs, 0.01)));
    if (depth <= 1) return 1;
    const longSince = Date.now() - STEAL_AFTER_MS;
    for (const r of this.#runners) if (r.current?.codeAt != null && !r.current.ended && r.current.codeAt < longSince) return 1;
    return depth;
  }

  freeSlots(): number {
    return Math.max(0, this.#options.maxRunners * this.#depth() - this.#tries.size - this.#queue.length);
  }

  activeTryIds(): string[] {
    return [...[...this.#tries.values()].filter((a) => !a.ended).map((a) => a.payload.tryId), ...this.#queue.map((p) => p.tryId)];
  }

  dispatch(tries: DispatchItem[]): void {
    if (this.#queue.length === 0 && tries.length > 0) this.#progressAt = Date.now();
    for (const payload of tries) this.#queue.push(payload);
    void this.#drain();
  }

  #draining = false;
  async #drain(): Promise<void> {
    if (this.#draining || this.#diskFullRetry || this.#stopping) return;
    this.#draining = true;
    try {
      // Bundles of tries dispatched meanwhile are written too before any try is handed out.
      while (this.#queue.some((p) => !this.#writtenBundles.has(p.bundleHash))) {
        if (!(await this.#ensureBundles())) return;
      }
      this.#assign();
      this.#stealAndSpawn();
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Writes the bundles of the queued tries; a try whose bundle cannot be written fails, unless
   * the disk is full: then the queue waits for space (false) and a retry would be lost on it.
   */
  async #ensureBundles(): Promise<boolean> {
    const hashes = [...new Set(this.#queue.map((p) => p.bundleHash).filter((h) => !this.#writtenBundles.has(h)))];
    // A few side by side: one after another, the first tries of 100 new DAGs waited ~0.5 s for
    // their bundles on PostgreSQL (a query and a file each).
    const failures: Array<{ hash: string; error: unknown }> = [];
    for (let i = 0; i < hashes.length; i += BUNDLES_AT_ONCE) {
      await Promise.all(hashes.slice(i, i + BUNDLES_AT_ONCE).map((hash) => this.#ensureBundle(hash).catch((error: unknown) => void failures.push({ hash, error }))));
      if (failures.some((f) => isStorageFull(f.error))) break;
    }
    const full = failures.find((f) => isStorageFull(f.error));
    if (full) {
      if (!this.#bundleDiskFull) this.#options.log.error({ bundleDir: this.#options.bundleDir }, `a DAG bundle cannot be written, the disk is full (${errorMessage(full.error)}); queued tries wait, trying again every second`);
      this.#bundleDiskFull = true;
      this.#diskFullRetry = setTimeout(() => {
        this.#diskFullRetry = null;
        void this.#drain();
      }, 1_000);
      this.#diskFullRetry.unref();
      return false;
    }
    for (const { hash, error } of failures) {
      for (let i = this.#queue.length - 1; i >= 0; i--) {
        const item = this.#queue[i]!;
        if (item.bundleHash !== hash) continue;
        this.#queue.splice(i, 1);
        this.#callbacks!.finished(item.tryId, {
          outcome: "failed",
          error: { message: `the DAG bundle could not be prepared: ${errorMessage(error)}`, code: "UPDRAFT_E_INTERNAL", stack: null, retryable: true },
          at: Date.now(),
        });
      }
    }
    return true;
  }

  /**
   * Hands queued tries to runners, in order, one IPC message per runner: each try to the least
   * loaded runner that can take one, among those that built its DAG if any of them can. (When
   * tries go one per runner, this spreads them; when short tries are sent ahead, it keeps them
   * on the runners that built their DAG instead of making every runner build it.)
   */
  #assign(): void {
    const depth = this.#depth();
    const open = [...this.#runners].filter((r) => r.ready && !r.doomed && load(r) < depth);
    if (open.length === 0 || this.#queue.length === 0) return;
    const batches = new Map<Runner, ActiveTry[]>();
    const loadOf = (r: Runner) => load(r) + (batches.get(r)?.length ?? 0);
    const recruits = this.#backloggedDags(depth);
    while (this.#queue.length > 0) {
      const dag = dagKey(this.#queue[0]!);
      const hash = this.#queue[0]!.bundleHash;
      let knower: Runner | null = null;
      let stranger: Runner | null = null;
      for (const r of open) {
        const l = loadOf(r);
        if (l >= depth) continue;
        if (r.dags.has(dag)) {
          if (knower === null || l < loadOf(knower)) knower = r;
        } else if (stranger === null || strangerFirst(r, stranger, hash, loadOf)) stranger = r;
      }
      const best = knower !== null && stranger !== null && loadOf(stranger) === 0 && recruits.has(dag) ? stranger : (knower ?? stranger);
      const bestKnows = best === knower;
      if (!bestKnows) recruits.delete(dag);
      if (!best) break;
      best.dags.add(dag);
      best.bundles.add(hash);
      const item = this.#queue.shift()!;
      const active: ActiveTry = { payload: { ...item, bundlePath: this.#bundlePath(item.bundleHash) }, runner: best, startedAt: null, codeAt: null, first: !bestKnows, timer: null, ended: false, revoking: false };
      this.#tries.set(item.tryId, active);
      let batch = batches.get(best);
      if (!batch) batches.set(best, (batch = []));
      batch.push(active);
    }
    for (const [runner, batch] of batches) {
      // An idle runner starts the first try the moment it reads it: that try counts as started
      // (and its execution timeout runs) from here, which saves a message.
      const startsFirst = runner.current === null && runner.queued.length === 0;
      runner.queued.push(...batch);
      for (const a of batch) runner.bundles.add(a.payload.bundleHash);
      const at = Date.now(); // before the send: the try may be over by the time it returns
      this.#send(runner, { t: "run", payloads: batch.map((a) => a.payload), startsFirst });
      if (startsFirst) this.#began(runner, batch[0]!.payload.tryId, at);
    }
  }

  /**
   * DAGs whose tries keep their runners busy: every runner that built the DAG still holds half a
   * queue when new tries come (when tries come faster than this process can send them, the
   * runners empty their queues in between), and none is building it now. One more runner (an
   * idle one) is then given the DAG's next try, which makes it build the DAG: a DAG that takes a
   * second to build is not built by every idle runner for tries of a tenth of a millisecond.
   */
  #backloggedDags(depth: number): Set<string> {
    const minLoad = new Map<string, number>();
    const building = new Set<string>();
    for (const r of this.#runners) {
      if (!r.ready || r.doomed) continue;
      for (const dag of r.dags) minLoad.set(dag, Math.min(minLoad.get(dag) ?? Infinity, load(r)));
      if (r.current?.first && r.current.codeAt === null) building.add(dagKey(r.current.payload));
      for (const a of r.queued) if (a.first) building.add(dagKey(a.payload));
    }
    const backlog = Math.max(1, Math.ceil(depth / 2));
    return new Set([...minLoad].filter(([dag, l]) => l >= backlog && !building.has(dag)).map(([dag]) => dag));
  }

  /**
   * Work that waits on busy runners: tries queued behind one whose code has run for
   * STEAL_AFTER_MS (not counting the building of its DAG) are asked back when another runner is free, and a runner is started when tries wait and
   * none has ended for SPAWN_AFTER_MS. If neither is due yet, a timer comes back for it.
   */
  #stealAndSpawn(): void {
    const now = Date.now();
    let wakeAt = Infinity;
    const free = [...this.#runners].some((r) => r.ready && !r.doomed && load(r) === 0);
    // Tries on runners that are stuck behind a long one.
    let stuck = 0;
    for (const r of this.#runners) {
      const waiting = r.queued.filter((a) => !a.revoking && !a.ended);
      if (waiting.length === 0 || !r.current) continue;
      // Building a DAG can take long (or hang, so not for ever): the tries behind wait for it.
      const dueAt = r.current.codeAt !== null ? Math.max(r.current.codeAt, r.heardAt) + STEAL_AFTER_MS : r.current.startedAt! + BUILD_WAIT_MS;
      if (dueAt > now) {
        wakeAt = Math.min(wakeAt, dueAt);
        continue;
      }
      stuck += waiting.length;
      if (free) this.#revoke(r, waiting);
    }
    const waiting = this.#queue.length + stuck;
    const live = [...this.#runners].filter((r) => !r.doomed);
    const starting = live.filter((r) => !r.ready).length;
    const busy = live.length - starting;
    const wanted = Math.min(this.#options.maxRunners - live.length, waiting - starting);
    if (wanted > 0) {
      const dueAt = this.#progressAt + SPAWN_AFTER_MS;
      if (busy === 0 || dueAt <= now) for (let i = 0; i < wanted; i++) this.#spawn();
      else wakeAt = Math.min(wakeAt, dueAt);
    }
    this.#wake.at(wakeAt);
  }

  #revoke(runner: Runner, tries: ActiveTry[]): void {
    if (tries.length === 0) return;
    for (const a of tries) a.revoking = true;
    this.#send(runner, { t: "revoke", tryIds: tries.map((a) => a.payload.tryId) });
  }

  /** The runner began the try at the head of its queue, at `at` (the same clock: this machine's). */
  #began(runner: Runner, tryId: unknown, at: unknown): void {
    const active = runner.queued.shift();
    if (!active || active.payload.tryId !== tryId) throw new Error(`it started try ${String(tryId)}, which is not next in its queue`);
    active.revoking = false;
    active.startedAt = Math.min(Date.now(), Number(at) || Date.now());
    if (!active.first) active.codeAt = active.startedAt;
    runner.current = active;
    if (active.ended) {
      // Killed while it waited on this runner, and the runner started it before it read that.
      this.#stopTry(runner, active.payload.tryId, "the try was killed before it started");
      return;
    }
    const timeout = active.payload.executionTimeoutMs;
    if (timeout !== null) active.timer = setTimeout(() => this.#timeout(active, timeout), Math.max(0, active.startedAt + timeout - Date.now()));
    this.#callbacks!.started(active.payload.tryId, { hostname: HOST, pid: runner.pid, at: active.startedAt });
  }

  /** Tries a runner will not run after all go back to the head of the queue, in their order. */
  #requeue(tries: ActiveTry[]): void {
    const back = tries.filter((a) => !a.ended);
    for (const a of tries) this.#tries.delete(a.payload.tryId);
    this.#queue.unshift(...back.map(({ payload: { bundlePath: _, ...item } }) => item));
  }

  #bundlePath(hash: string): string {
    return join(this.#options.bundleDir, `${hash}.mjs`);
  }

  /** Bundles being written, so that a dispatch and a prepare of the same one share the work. */
  readonly #writing = new Map<string, Promise<void>>();

  /** Writes the bundle where runners import it from (once per hash). */
  #ensureBundle(hash: string): Promise<void> {
    if (this.#writtenBundles.has(hash)) return Promise.resolve();
    let writing = this.#writing.get(hash);
    if (!writing) {
      writing = this.#writeBundle(hash).finally(() => this.#writing.delete(hash));
      this.#writing.set(hash, writing);
    }
    return writing;
  }

  async #writeBundle(hash: string): Promise<void> {
    if (!existsSync(this.#bundlePath(hash))) {
      const code = await this.#callbacks!.loadBundle(hash);
      await writePrivateFileAtomic(this.#bundlePath(hash), code);
      if (this.#bundleDiskFull) this.#options.log.info("DAG bundles can be written again");
      this.#bundleDiskFull = false;
    }
    this.#writtenBundles.add(hash);
    this.#spreadPreloads();
  }

  /** Bundles that runs which started will need, not yet imported by a runner. */
  readonly #wanted = new Set<string>();

  prepare(bundleHashes: readonly string[]): void {
    if (this.#stopping) return;
    const fresh = [...new Set(bundleHashes)].filter((h) => !this.#writtenBundles.has(h));
    for (const hash of bundleHashes) this.#wanted.add(hash);
    this.#spreadPreloads();
    void (async () => {
      for (let i = 0; i < fresh.length; i += BUNDLES_AT_ONCE) {
        // A bundle that cannot be written now fails its tries when they are dispatched.
        await Promise.all(fresh.slice(i, i + BUNDLES_AT_ONCE).map((hash) => this.#ensureBundle(hash).catch(() => this.#wanted.delete(hash))));
      }
    })();
  }

  /**
   * Bundles that tries will need (those of queued tries, and of runs that started) and no runner
   * has imported: each goes to one idle runner, the one given the fewest, so that imports run side
   * by side ahead of the first tries, which then go to that runner (see #assign). A runner that
   * later takes a try of another's DAG imports its bundle then.
   */
  #spreadPreloads(): void {
    const idle = [...this.#runners].filter((r) => r.ready && !r.doomed && load(r) === 0);
    if (idle.length === 0) return;
    const held = new Set<string>();
    for (const r of this.#runners) for (const hash of r.bundles) held.add(hash);
    const given = new Map<Runner, number>();
    for (const hash of new Set([...this.#queue.map((p) => p.bundleHash), ...this.#wanted])) {
      if (held.has(hash) || !this.#writtenBundles.has(hash)) continue;
      const runner = idle.reduce((a, b) => ((given.get(b) ?? 0) < (given.get(a) ?? 0) ? b : a));
      given.set(runner, (given.get(runner) ?? 0) + 1);
      runner.bundles.add(hash);
      held.add(hash);
      this.#send(runner, { t: "preload", bundleHash: hash, bundlePath: this.#bundlePath(hash) });
    }
    for (const hash of this.#wanted) if (held.has(hash)) this.#wanted.delete(hash);
  }

  #spawn(): Runner {
    const child = forkChild(childEntry(import.meta.url, "../runner/runner-main"), {
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      execArgv: [`--max-old-space-size=${this.#options.memoryLimitMb}`],
    });
    const runner: Runner = { child, pid: child.pid ?? -1, ready: false, current: null, queued: [], doomed: false, idleSince: Date.now(), stderr: "", bundles: new Set(), dags: new Set(), previous: null, heardAt: Date.now() };
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
    child.once("exit", (code, signal) => {
      // Reports it sent before it died may still be in the channel: they count before its tries are settled.
      if (!child.connected) {
        this.#onExit(runner, code, signal);
        return;
      }
      const settle = () => {
        clearTimeout(timer);
        this.#onExit(runner, code, signal);
      };
      const timer = setTimeout(settle, EXIT_DRAIN_MS);
      child.once("disconnect", settle);
    });
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
    runner.heardAt = Date.now();
    if (typeof message !== "object" || message === null) throw new Error("not an object");
    // Every report about a try must come from the runner that runs it (log lines also from the one it ran before).
    const about = message.t === "ready" || message.t === "started" || message.t === "revoked" ? null : message.tryId;
    if (about !== null && (typeof about !== "string" || (runner.current?.payload.tryId !== about && !(message.t === "log" && runner.previous === about)))) {
      throw new Error(`a report about try ${String((message as { tryId?: unknown }).tryId)}, which this runner does not run`);
    }
    switch (message.t) {
      case "ready":
        runner.ready = true;
        runner.idleSince = Date.now();
        this.#spreadPreloads();
        void this.#drain();
        return;
      case "started":
        if (runner.current !== null) throw new Error(`it started try ${String(message.tryId)} while it runs another`);
        this.#began(runner, message.tryId, message.at);
        return;
      case "loaded":
        runner.current!.codeAt = Math.min(Date.now(), Number(message.at) || Date.now());
        return;
      case "log":
        // Also after the try ended (a timeout or a kill): what its abort handlers log still counts.
        callbacks.log(message.tryId, checkLines(message.lines));
        return;
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
        const active = runner.current!;
        if (message.lines !== undefined) callbacks.log(message.tryId, checkLines(message.lines));
        runner.current = null;
        runner.previous = active.payload.tryId;
        if (!active.ended) {
          const result = checkResult(message.result, active.payload.xcomMaxBytes);
          // How long its code ran, as the runner measured it: not counting a DAG build, nor this process's delays.
          if (typeof message.ranMs === "number" && message.ranMs >= 0) this.#learn(message.ranMs);
          this.#end(active, result);
        }
        this.#tries.delete(active.payload.tryId);
        if (!runner.doomed) {
          this.#progressAt = Date.now();
          if (message.next === undefined) runner.idleSince = this.#progressAt;
        }
        if (message.next !== undefined) this.#began(runner, message.next.tryId, message.next.at);
        // A stopped try's runner is not trusted with another: the rest of its queue goes elsewhere.
        if (runner.doomed && runner.current === null) this.#killRunner(runner);
        void this.#drain();
        return;
      }
      case "revoked": {
        if (!Array.isArray(message.tryIds)) throw new Error("revoked tries are not an array");
        const ids = new Set(message.tryIds);
        const back = runner.queued.filter((a) => ids.has(a.payload.tryId));
        if (back.length !== ids.size) throw new Error("it gave back tries it did not hold");
        runner.queued = runner.queued.filter((a) => !ids.has(a.payload.tryId));
        this.#requeue(back);
        void this.#drain();
        return;
      }
    }
  }

  /** The moving average of how long tries take, which decides how many are sent ahead. */
  #learn(ms: number): void {
    this.#averageTryMs = this.#averageTryMs === null ? ms : this.#averageTryMs * 0.8 + ms * 0.2;
  }

  /**
   * Answers a variable or connection lookup of a try that is still running, and only to the
   * runner that runs it: secrets are never handed to a try that ended (timed out, killed).
   */
  #answer<T>(runner: Runner, tryId: string, read: (tryId: string) => Promise<T | null>, reply: (answer: Lookup<T>) => ToRunner): void {
    const running = () => runner.current?.payload.tryId === tryId && !runner.current.ended;
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
      Math.max(Date.now(), active.startedAt! + timeoutMs),
    );
  }

  /**
   * Aborts the try on its runner, then kills the runner if it has not stopped within the grace.
   * The tries queued behind it are asked back first, so that they run elsewhere.
   */
  #stopTry(runner: Runner, tryId: string, reason: string): void {
    runner.doomed = true; // a runner that held a stopped try is not trusted with another
    this.#revoke(runner, runner.queued.filter((a) => !a.revoking));
    this.#send(runner, { t: "abort", tryId, reason });
    // Unless it stopped meanwhile: a runner whose stopped try ended by itself just before it read
    // the abort may have begun the next of its queue, which runs to its end there.
    setTimeout(() => {
      if (runner.current?.payload.tryId === tryId) this.#killRunner(runner);
    }, this.#options.killGraceMs).unref();
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
    if (active.startedAt === null) {
      // Waiting on a runner: asked back (if the runner starts it first, it is stopped there).
      if (!active.revoking) this.#revoke(active.runner, [active]);
      this.#end(active, { outcome: "failed", error: { message: `killed: ${reason}`, code: null, stack: null, retryable: false }, at: Date.now() });
      return;
    }
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
    const active = runner.current;
    if (active) {
      this.#tries.delete(active.payload.tryId);
      if (!active.ended) {
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
    // The tries it had not started never ran: they go to another runner, no retry spent.
    this.#requeue(runner.queued);
    runner.queued = [];
    if (!this.#stopping) void this.#drain();
  }

  /** Memory limit, idle reaping and tries stuck behind long ones, twice a second. */
  #checkRunners(): void {
    const now = Date.now();
    const limitBytes = this.#options.memoryLimitMb * 1024 * 1024;
    let idle = [...this.#runners].filter((r) => r.ready && !r.doomed && load(r) === 0).length;
    for (const runner of this.#runners) {
      const active = runner.current;
      if (active && !runner.doomed) {
        const rss = residentBytes(runner.pid);
        if (rss !== null && rss > limitBytes && !active.ended) {
          this.#stopTry(runner, active.payload.tryId, "memory limit exceeded");
          this.#fail(active, {
            message: `the try used ${Math.round(rss / 1024 / 1024)} MB, more than the runner memory limit of ${this.#options.memoryLimitMb} MB, and was killed`,
            code: "UPDRAFT_E_RUNNER_MEMORY",
            stack: null,
            retryable: true,
          });
        }
      } else if (runner.ready && load(runner) === 0 && idle > this.#options.warmRunners && now - runner.idleSince > (this.#options.idleTimeoutMs ?? 30_000)) {
        idle--;
        this.#killRunner(runner);
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#monitor) clearInterval(this.#monitor);
    this.#wake.clear();
    if (this.#diskFullRetry) clearTimeout(this.#diskFullRetry);
    const exits = [...this.#runners].map((r) => new Promise<void>((resolve) => {
      if (r.child.exitCode !== null || r.child.signalCode !== null) resolve();
      else r.child.once("exit", () => resolve());
    }));
    for (const runner of this.#runners) this.#killRunner(runner);
    await Promise.all(exits);
  }
}

const dagKey = (item: DispatchItem) => `${item.bundleHash}:${item.dagId}`;

/** Tries a runner holds: the one it runs and those queued on it. */
const load = (r: Runner) => (r.current ? 1 : 0) + r.queued.length;

/** Among runners that have not built a try's DAG: one that imported its bundle first, then the least loaded. */
function strangerFirst(r: Runner, than: Runner, bundleHash: string, loadOf: (r: Runner) => number): boolean {
  const holds = r.bundles.has(bundleHash);
  if (holds !== than.bundles.has(bundleHash)) return holds;
  return loadOf(r) < loadOf(than);
}

function checkLines(lines: unknown): LogLine[] {
  if (!Array.isArray(lines)) throw new Error("log lines are not an array");
  return (lines as LogLine[]).map((l) => ({
    ts: Number(l.ts) || Date.now(),
    stream: l.stream === "stdout" || l.stream === "stderr" ? l.stream : "log",
    level: l.level === "warn" || l.level === "error" ? l.level : "info",
    // PostgreSQL text cannot hold NUL characters.
    message: String(l.message).replaceAll("\u0000", "\uFFFD"),
  }));
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
