/**
 * The scheduler: turns reports from its executor into state, decides what runs next, and hands
 * ready tries to the executor. See docs/ARCHITECTURE.md ("Scheduling loop").
 *
 * Everything happens in ticks. A tick takes every report that arrived since the last one,
 * applies it and its consequences (downstream decisions, finished runs, new tries) in one
 * transaction, then hands the new tries to the executor once the transaction has committed.
 * Reports arriving meanwhile wait for the next tick, so under load each transaction carries many
 * state changes (the cost of a commit is paid per tick, not per task). A tick is requested by
 * every report (the fast path), by a timer for the next due run or retry, by a change another
 * process made (SQLite's data_version, PostgreSQL's NOTIFY), and by a poll as a backstop.
 */
import type { Config } from "../config/index.js";
import type { DagRunState, SerializedDag, TaskInstanceState } from "../dag/model.js";
import { errorMessage, UpdraftError } from "../errors/index.js";
import type { ConnectionParts, Executor, StoredVariable } from "../executor/types.js";
import type { LogLine, TryResult } from "../runner/protocol.js";
import type { Keyring } from "../security/secrets.js";
import type { Store } from "../store/connect.js";
import { connectionForTask } from "../store/connections.js";
import { variableForTask } from "../store/variables.js";
import type { SqlContext } from "../store/sql.js";
import { appendEvents, notifyEventListeners, trimEvents, type StoredEvent } from "../store/events.js";
import { heartbeatJob, registerJob } from "../store/jobs.js";
import { getBundleCode } from "../store/dags.js";
import { EarliestTimer } from "../util/earliest-timer.js";
import type { Logger } from "../util/logger.js";
import { appendLogs, branchFollow, finishTries, heartbeatTries, pushXcoms, startTries, triesGone, type EndedTry, type StartReport } from "../execution/tries.js";
import { handBackTries, reapDeadJobs } from "../execution/orphans.js";
import type { DispatchItem } from "../runner/protocol.js";
import { tryPayloads } from "../execution/payload.js";
import { parseTryId } from "../execution/try-id.js";
import { dispatchableRuns, dispatchReady } from "./dispatch.js";
import { evaluateRuns, type RunSeeds, type WaitMemory } from "./evaluate.js";
import { RunCache, type RunInfo } from "./run-cache.js";
import { createDueRuns, nextRunCreation, promoteDueRetries, startQueuedRuns } from "./runs.js";

export type SchedulerEvent =
  | { type: "run-state"; dagRunId: number; dagId: string; runId: string; state: DagRunState }
  | { type: "ti-state"; dagRunId: number; taskId: string; state: TaskInstanceState }
  | { type: "log"; dagRunId: number; dagId: string; taskId: string; tryNumber: number; lines: LogLine[] };

export interface SchedulerOptions {
  store: Store;
  config: Config;
  executor: Executor;
  log: Logger;
  /**
   * Decrypts the secret variables and connections tasks read; without it they get an error
   * naming UPDRAFT_SECRET_KEY (plain ones are still read).
   */
  keyring?: Keyring | null;
  /** Run only these DAG runs, whatever their type and pause (`updraft dags test`). */
  onlyRuns?: number[];
  onEvent?: (event: SchedulerEvent) => void;
}

interface Pending {
  /** With the time the report arrived (`seenAt`). */
  started: Map<string, Omit<StartReport, "tryId"> & { seenAt: number }>;
  finished: Map<string, TryResult>;
  logs: Array<[string, LogLine[]]>;
  pushes: Array<[string, string, string]>;
}

/**
 * A try that only started is recorded a moment later, so that a short try's start and end share
 * one transaction; the running state still shows within milliseconds.
 */
const STARTED_COALESCE_MS = 3;

/** How many ended tries the scheduler still takes log lines for. */
const ENDED_KEPT = 1_000;

/** Task log lines kept while they cannot be stored (a full disk); beyond this, new ones are dropped. */
const MAX_PENDING_LOG_LINES = 100_000;

/** What one tick gathers as it goes. */
interface Tick {
  now: number;
  /** The runs to evaluate, and why. */
  seeds: Map<number, RunSeeds>;
  events: SchedulerEvent[];
  finishedRuns: number[];
  /** Bundles of the runs this tick started, for the executor to load ahead of their tries. */
  bundles: Set<string>;
  /** Tries of a remote executor found ended (through the execution API) or moved on elsewhere. */
  gone: Set<string>;
  /** Tries handed to the broker long ago and never started: published again after the commit. */
  republish: DispatchItem[];
}

const emptyPending = (): Pending => ({ started: new Map(), finished: new Map(), logs: [], pushes: [] });

export class Scheduler {
  readonly #store: Store;
  readonly #config: Config;
  readonly #executor: Executor;
  readonly #log: Logger;
  readonly #keyring: Keyring | null;
  readonly #onlyRuns: ReadonlySet<number> | null;
  readonly #listeners = new Set<(event: SchedulerEvent) => void>();
  readonly #cache = new RunCache();
  readonly #waits: WaitMemory = new Map();
  /** The tries this scheduler handed to its executor (for their logs, lookups and parallelism). */
  readonly #inflight = new Map<string, DispatchItem>();
  /** Tries that ended lately: lines they log on their way out (after a timeout) are still kept. */
  readonly #ended = new Map<string, DispatchItem>();
  readonly #warnedPools = new Set<string>();
  /** When a remote try still queued was last published again (see #republishLost). */
  readonly #republished = new Map<string, number>();
  /** Callers of pass() waiting for the next full pass to commit. */
  #passWaiters: Array<() => void> = [];
  #pending: Pending = emptyPending();
  #pendingLogLines = 0;
  #droppedLogLines = 0;
  #jobId = 0;
  #wantRuns = true;
  #wantBackstop = true;
  /** Something changed a try's state elsewhere (the execution API): look at the remote tries in flight. */
  #wantGone = false;
  #tickQueued = false;
  #delayedTick: NodeJS.Timeout | null = null;
  #pools = new Map<string, number>();
  /** Runs that may dispatch (see dispatchableRuns); null = read them again. */
  #dispatchable: Map<number, number> | null = null;
  #ticking: Promise<void> | null = null;
  #failures = 0;
  #nextRetryAt: number | null = null;
  #nextRunAt: number | null = null;
  readonly #wake = new EarliestTimer(() => {
    this.#wantRuns = true;
    this.#queueTick();
  });
  #timers: NodeJS.Timeout[] = [];
  #unsubscribe: (() => void) | null = null;
  #lastReap = 0;
  #lastTrim = 0;
  #stopping = false;

  constructor(options: SchedulerOptions) {
    this.#store = options.store;
    this.#config = options.config;
    this.#executor = options.executor;
    this.#log = options.log;
    this.#keyring = options.keyring ?? null;
    this.#onlyRuns = options.onlyRuns ? new Set(options.onlyRuns) : null;
    if (options.onEvent) this.#listeners.add(options.onEvent);
  }

  get jobId(): number {
    return this.#jobId;
  }

  onEvent(listener: (event: SchedulerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async start(): Promise<void> {
    this.#jobId = await this.#registerJob();
    await this.#executor.start({
      started: (tryId, info) => this.#report(() => this.#pending.started.set(tryId, { ...info, seenAt: Date.now() }), STARTED_COALESCE_MS),
      finished: (tryId, result) => this.#report(() => this.#pending.finished.set(tryId, result)),
      log: (tryId, lines) => this.#report(() => this.#keepLogs(tryId, lines)),
      xcomPush: (tryId, key, value) => this.#report(() => this.#pending.pushes.push([tryId, key, value])),
      pullXcom: (tryId, taskId, key) => this.#pullXcom(tryId, taskId, key),
      readVariable: (tryId, key) => this.#forTry(tryId, "variable", () => variableForTask(this.#store.db, this.#keyring, key)),
      readConnection: (tryId, connId) => this.#forTry(tryId, "connection", () => connectionForTask(this.#store.db, this.#keyring, connId)),
      loadBundle: (hash) => getBundleCode(this.#store.db, hash),
    });
    const unsubscribeChanges = this.#store.onChange(() => this.requestPass());
    // While the disk under the database is full no tick runs (it could store nothing); the
    // reports wait in memory and the work resumes once the store can write again.
    const unsubscribeStorage = this.#store.storage.onChange((full) => {
      if (!full) this.requestPass();
    });
    // A remote executor's tries end through the execution API, which appends their events.
    const unsubscribeEvents = this.#executor.remote
      ? this.#store.onEvents(() => {
          this.#wantGone = true;
          this.#queueTick();
        })
      : () => {};
    this.#unsubscribe = () => {
      unsubscribeChanges();
      unsubscribeStorage();
      unsubscribeEvents();
    };
    const poll = setInterval(() => this.requestPass(), this.#config.schedulerPollIntervalMs);
    const heartbeat = setInterval(() => void this.#heartbeat(), this.#config.heartbeatIntervalMs);
    poll.unref();
    heartbeat.unref();
    this.#timers.push(poll, heartbeat);
    this.requestPass();
  }

  /** Asks for a pass over runs, retries and the backstop evaluation (not only the fast path). */
  requestPass(): void {
    this.#wantRuns = true;
    this.#wantBackstop = true;
    this.#queueTick();
  }

  /**
   * Runs a full pass (runs, retries, backstop, evaluation, dispatch) and resolves once it has
   * committed: after it, whatever the scheduler would decide from the current state is decided.
   * Tests use it to check that something does not happen, instead of waiting for a while.
   */
  pass(): Promise<void> {
    return new Promise((resolve) => {
      this.#passWaiters.push(resolve);
      this.requestPass();
    });
  }

  #report(apply: () => void, delayMs = 0): void {
    apply();
    this.#queueTick(delayMs);
  }

  #keepLogs(tryId: string, lines: LogLine[]): void {
    if (this.#pendingLogLines + lines.length > MAX_PENDING_LOG_LINES) {
      this.#droppedLogLines += lines.length;
      return;
    }
    this.#pendingLogLines += lines.length;
    this.#pending.logs.push([tryId, lines]);
  }

  #queueTick(delayMs = 0): void {
    if (this.#tickQueued || this.#stopping || this.#store.storage.full) return;
    if (delayMs > 0) {
      this.#delayedTick ??= setTimeout(() => {
        this.#delayedTick = null;
        this.#queueTick();
      }, delayMs);
      return;
    }
    if (this.#delayedTick) {
      clearTimeout(this.#delayedTick);
      this.#delayedTick = null;
    }
    this.#tickQueued = true;
    // setImmediate lets reports already on the way (IPC) arrive first, so they share the tick.
    setImmediate(() => void this.#runTick());
  }

  async #runTick(): Promise<void> {
    if (this.#ticking) {
      await this.#ticking;
    }
    this.#tickQueued = false;
    if (this.#stopping) return;
    this.#ticking = this.#tick().finally(() => {
      this.#ticking = null;
    });
    await this.#ticking;
  }

  async #tick(): Promise<void> {
    const pending = this.#pending;
    this.#pending = emptyPending();
    this.#pendingLogLines = 0;
    const wantRuns = this.#wantRuns;
    const wantBackstop = this.#wantBackstop;
    // Only those who asked before this pass began: its reads then follow their request.
    const passWaiters = wantRuns && wantBackstop ? this.#passWaiters.splice(0) : [];
    const wantGone = this.#wantGone || wantBackstop;
    this.#wantRuns = false;
    this.#wantBackstop = false;
    this.#wantGone = false;
    const tick: Tick = { now: Date.now(), seeds: new Map(), events: [], finishedRuns: [], bundles: new Set(), gone: new Set(), republish: [] };
    let dispatched: DispatchItem[] = [];
    try {
      dispatched = await this.#store.transaction(async (trx) => {
        const ctx: SqlContext = { db: trx, dialect: this.#store.dialect };
        await this.#applyReports(ctx, tick, pending);
        if (wantGone && this.#executor.remote) await this.#collectGone(ctx, tick);
        if (wantBackstop) await this.#backstop(ctx, tick, pending);
        if (wantRuns) await this.#startRuns(ctx, tick);
        if (wantRuns || (this.#nextRetryAt !== null && this.#nextRetryAt <= tick.now)) {
          this.#nextRetryAt = (await promoteDueRetries(trx, this.#onlyRuns, tick.now)).nextAt;
        }
        await this.#evaluate(ctx, tick, pending);
        const queued = this.#stopping ? [] : await this.#dispatch(ctx, tick, pending);
        for (const d of queued) tick.events.push({ type: "ti-state", dagRunId: d.dagRunId, taskId: d.taskId, state: "queued" });
        await this.#storeEvents(ctx, tick);
        return queued;
      });
      this.#failures = 0;
    } catch (error) {
      this.#dispatchable = null;
      this.#passWaiters.unshift(...passWaiters);
      this.#wantRuns ||= wantRuns;
      this.#wantBackstop ||= wantBackstop;
      this.#wantGone ||= wantGone;
      // A full disk: nothing was written, and what the tries reported is kept (results first)
      // until the store can write again, which wakes the scheduler; the store said so once.
      if (this.#store.storage.full) {
        this.#restore(pending);
        return;
      }
      // Nothing was written: keep the reports for the next tick, and back off a little. Log
      // lines are the only free text in a tick; if ticks keep failing, they go first.
      if (this.#failures >= 2 && pending.logs.length > 0) {
        this.#log.error({ lines: pending.logs.reduce((n, [, l]) => n + l.length, 0) }, "dropping task log lines that could not be stored");
        pending.logs = [];
      }
      this.#restore(pending);
      this.#failures++;
      const delay = Math.min(5_000, 50 * 2 ** Math.min(this.#failures, 7));
      this.#log.error({ err: error, retryInMs: delay }, `scheduler tick failed: ${errorMessage(error)}`);
      setTimeout(() => this.#queueTick(), delay).unref();
      return;
    }
    if (this.#droppedLogLines > 0) {
      this.#log.warn({ lines: this.#droppedLogLines }, "task log lines were dropped while the database could not store them");
      this.#droppedLogLines = 0;
    }

    for (const tryId of [...pending.finished.keys(), ...tick.gone]) {
      this.#republished.delete(tryId);
      const t = this.#inflight.get(tryId);
      if (!t) continue;
      this.#inflight.delete(tryId);
      this.#ended.set(tryId, t);
      if (this.#ended.size > ENDED_KEPT) this.#ended.delete(this.#ended.keys().next().value!);
    }
    for (const id of tick.finishedRuns) this.#cache.forgetRun(id);
    if (tick.bundles.size > 0) this.#executor.prepare?.([...tick.bundles]);
    if (dispatched.length > 0) {
      for (const d of dispatched) this.#inflight.set(d.tryId, d);
      this.#executor.dispatch(dispatched);
    }
    if (tick.republish.length > 0) {
      this.#log.warn({ tries: tick.republish.length, queuedTimeoutMs: this.#config.queuedTimeoutMs }, "tries handed to the broker were not started by a worker within the queued timeout; publishing them again");
      this.#executor.dispatch(tick.republish);
    }
    if (tick.events.length > 0) this.#store.eventsAppended();
    this.#emit(tick.events);
    for (const resolve of passWaiters) resolve();
    if (tick.finishedRuns.length > 0) this.#wantRuns = true; // start queued runs, create the next ones
    this.#armWake();
    // Starts alone wait their coalescing delay (the try's end may come with them), the rest goes now.
    if (this.#wantRuns || this.#hasPending(false)) this.#queueTick();
    else if (this.#pending.started.size > 0) this.#queueTick(STARTED_COALESCE_MS);
  }

  /**
   * What the executor reported: logs, pushed XComs, tries that started and tries that ended. The
   * store applies each by its try id (see src/execution/tries.ts), whoever dispatched the try.
   */
  async #applyReports(ctx: SqlContext, tick: Tick, pending: Pending): Promise<void> {
    const logs = pending.logs.map(([tryId, lines]) => ({ tryId, lines }));
    await appendLogs(ctx, logs);
    for (const { tryId, lines } of logs) {
      const t = this.#inflight.get(tryId) ?? this.#ended.get(tryId);
      if (t) tick.events.push({ type: "log", dagRunId: t.dagRunId, dagId: t.dagId, taskId: t.taskId, tryNumber: t.tryNumber, lines });
    }
    await pushXcoms(ctx, pending.pushes.map(([tryId, key, value]) => ({ tryId, key, value })), tick.now);
    // A start younger than its coalescing delay waits for the next tick, where the try's end
    // may join it: under load, ticks follow each other faster than short tries end.
    const onlyStarted: StartReport[] = [];
    for (const [tryId, s] of pending.started) {
      if (pending.finished.has(tryId)) continue;
      if (s.seenAt > tick.now - STARTED_COALESCE_MS && !this.#stopping) this.#pending.started.set(tryId, s);
      else onlyStarted.push({ tryId, hostname: s.hostname, pid: s.pid, at: s.at });
    }
    for (const t of await startTries(ctx, onlyStarted, tick.now)) tick.events.push({ type: "ti-state", dagRunId: t.dagRunId, taskId: t.taskId, state: "running" });
    const reports = [...pending.finished].map(([tryId, result]) => {
      const started = pending.started.get(tryId);
      return { tryId, result, ...(started ? { started } : {}) };
    });
    const { ended, refused } = await finishTries(ctx, this.#cache, reports, tick.now);
    for (const r of refused) this.#log.debug({ tryId: r.tryId, code: r.code }, `a try's end was not applied: ${r.message}`);
    this.#noteEnded(tick, ended);
  }

  /**
   * The remote tries in flight that ended through the execution API, or moved on elsewhere: the
   * runs they ended in go on from the state each took (a branch from the choice it stored).
   */
  async #collectGone(ctx: SqlContext, tick: Tick): Promise<void> {
    if (this.#inflight.size === 0) return;
    const gone = await triesGone(ctx, [...this.#inflight.keys()]);
    const runs = await this.#cache.runs(ctx.db, gone.flatMap((g) => (g.state === null ? [] : [g.dagRunId])));
    for (const g of gone) {
      tick.gone.add(g.tryId);
      const run = runs.get(g.dagRunId);
      if (g.state === null || !run) continue;
      const seed = this.#seed(tick, g.dagRunId);
      seed.ended.set(g.taskId, g.state);
      if (g.nextRetryAt !== null) this.#noteRetry(g.nextRetryAt);
      if (g.state === "success" && run.graph.tasks.get(g.taskId)?.kind === "branch") {
        const output = await ctx.db.selectFrom("xcom").select("value").where("dag_run_id", "=", g.dagRunId).where("task_id", "=", g.taskId).where("key", "=", "return_value").executeTakeFirst();
        seed.branches.set(g.taskId, new Set(branchFollow(output?.value)));
      }
    }
  }

  #seed(tick: Tick, dagRunId: number): RunSeeds {
    let s = tick.seeds.get(dagRunId);
    if (!s) tick.seeds.set(dagRunId, (s = { ended: new Map(), branches: new Map(), full: false }));
    return s;
  }

  #noteEnded(tick: Tick, ended: Array<Pick<EndedTry, "dagRunId" | "taskId" | "state" | "follow" | "nextRetryAt">>): void {
    for (const e of ended) {
      this.#seed(tick, e.dagRunId).ended.set(e.taskId, e.state);
      if (e.follow) this.#seed(tick, e.dagRunId).branches.set(e.taskId, new Set(e.follow));
      if (e.nextRetryAt !== undefined) this.#noteRetry(e.nextRetryAt);
      tick.events.push({ type: "ti-state", dagRunId: e.dagRunId, taskId: e.taskId, state: e.state });
    }
  }

  /**
   * The backstop: dead schedulers' tries handed back, tries changed elsewhere stopped, pools and
   * dispatchable runs read again, and every running run evaluated in full.
   */
  async #backstop(ctx: SqlContext, tick: Tick, pending: Pending): Promise<void> {
    const trx = ctx.db;
    if (tick.now - this.#lastReap >= Math.min(this.#config.heartbeatIntervalMs, this.#config.zombieThresholdMs)) {
      this.#lastReap = tick.now;
      const dead = await reapDeadJobs(trx, this.#jobId, this.#config.zombieThresholdMs, tick.now);
      if (dead.length > 0) this.#log.warn({ jobs: dead }, "schedulers stopped heartbeating; their tries are handed back");
      const handed = await handBackTries(trx, this.#cache, { interrupted: false, now: tick.now, staleHeartbeatBefore: tick.now - this.#config.zombieThresholdMs });
      this.#noteEnded(tick, handed.ended);
      if (handed.nextRetryAt !== null) this.#noteRetry(handed.nextRetryAt);
      for (const run of handed.runs) this.#seed(tick, run);
      await this.#killStaleTries(ctx, pending);
      if (this.#executor.remote) tick.republish = await this.#republishLost(ctx, tick.now);
    }
    this.#pools = new Map((await trx.selectFrom("pool").select(["name", "slots"]).execute()).map((p) => [p.name, p.slots]));
    this.#dispatchable = null;
    if (tick.now - this.#lastTrim >= 60_000) {
      this.#lastTrim = tick.now;
      await trimEvents(trx, tick.now - this.#config.eventRetentionMs);
    }
    const running = await trx
      .selectFrom("dag_run")
      .select("id")
      .where("state", "=", "running")
      .$if(this.#onlyRuns !== null, (q) => q.where("id", "in", [...this.#onlyRuns!]))
      .$if(this.#onlyRuns === null, (q) => q.where("run_type", "<>", "test"))
      .execute();
    for (const r of running) this.#seed(tick, r.id).full = true;
  }

  /** Scheduled runs that are due are created; queued runs start within maxActiveRuns. */
  async #startRuns(ctx: SqlContext, tick: Tick): Promise<void> {
    const trx = ctx.db;
    if (!this.#onlyRuns) await createDueRuns(ctx, (v) => this.#structure(trx, v), tick.now);
    const started = await startQueuedRuns(trx, this.#onlyRuns, tick.now);
    if (started.length > 0) this.#dispatchable = null;
    const runs = await this.#cache.runs(trx, started);
    for (const id of started) {
      this.#seed(tick, id).full = true;
      const run = runs.get(id)!;
      tick.bundles.add(run.bundleHash);
      tick.events.push({ type: "run-state", dagRunId: id, dagId: run.dagId, runId: run.runId, state: "running" });
    }
    if (!this.#onlyRuns) this.#nextRunAt = await nextRunCreation(trx);
  }

  /** Dependencies and run states of the runs this tick touched. */
  async #evaluate(ctx: SqlContext, tick: Tick, pending: Pending): Promise<void> {
    for (const t of this.#inflight.values()) {
      if (!pending.finished.has(t.tryId) && !tick.gone.has(t.tryId)) {
        const s = tick.seeds.get(t.dagRunId);
        if (s) s.busy = true;
      }
    }
    const runs = await this.#cache.runs(ctx.db, tick.seeds.keys());
    const toEvaluate = [...tick.seeds].flatMap(([id, s]) => (runs.has(id) ? [[runs.get(id)!, s] as [RunInfo, RunSeeds]] : []));
    for (const [dagRunId, result] of await evaluateRuns(ctx, toEvaluate, this.#waits, tick.now)) {
      const run = runs.get(dagRunId)!;
      for (const [taskId, state] of result.decided) tick.events.push({ type: "ti-state", dagRunId, taskId, state });
      if (result.outcome) {
        tick.finishedRuns.push(dagRunId);
        tick.events.push({ type: "run-state", dagRunId, dagId: run.dagId, runId: run.runId, state: result.outcome });
      }
    }
  }

  /** New tries, within the executor's free slots and the scheduler's parallelism. */
  async #dispatch(ctx: SqlContext, tick: Tick, pending: Pending): Promise<DispatchItem[]> {
    for (const id of tick.finishedRuns) this.#dispatchable?.delete(id);
    this.#dispatchable ??= await dispatchableRuns(ctx, this.#onlyRuns);
    const capacity = Math.min(this.#executor.freeSlots(), this.#config.parallelism - (this.#inflight.size - pending.finished.size - tick.gone.size));
    return dispatchReady(ctx, this.#cache, capacity, { runs: this.#dispatchable, pools: this.#pools }, this.#jobId, this.#config.xcomMaxBytes, tick.now, (pool, task) => {
      if (!this.#warnedPools.has(pool)) {
        this.#warnedPools.add(pool);
        this.#log.warn({ pool, task }, `task uses pool '${pool}', which does not exist; it waits until the pool is created`);
      }
    });
  }

  /** State changes go to the event log in the tick's own transaction (API servers tail it and its log lines). */
  async #storeEvents(ctx: SqlContext, tick: Tick): Promise<void> {
    const changes = tick.events.filter((e) => e.type !== "log");
    if (changes.length === 0) {
      if (tick.events.length > 0) await notifyEventListeners(ctx, this.#store.eventChannel);
      return;
    }
    const runs = await this.#cache.runs(ctx.db, changes.map((e) => e.dagRunId));
    const stored: StoredEvent[] = [];
    for (const e of changes) {
      const run = runs.get(e.dagRunId);
      if (!run) continue;
      if (e.type === "run-state") stored.push({ kind: "run-state", dag_id: run.dagId, run_id: run.runId, state: e.state });
      else if (e.type === "ti-state") stored.push({ kind: "ti-state", dag_id: run.dagId, run_id: run.runId, task_id: e.taskId, state: e.state });
    }
    await appendEvents(ctx, stored, tick.now, this.#store.eventChannel);
  }

  /** Listeners are told after the commit; one that throws does not stop the scheduler. */
  #emit(events: SchedulerEvent[]): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (error) {
          this.#log.error({ err: error }, "a scheduler event listener failed");
        }
      }
    }
  }

  #hasPending(withStarts = true): boolean {
    const p = this.#pending;
    return (withStarts ? p.started.size : 0) + p.finished.size + p.logs.length + p.pushes.length > 0;
  }

  #restore(old: Pending): void {
    const now = this.#pending;
    for (const [k, v] of old.started) if (!now.started.has(k)) now.started.set(k, v);
    for (const [k, v] of old.finished) if (!now.finished.has(k)) now.finished.set(k, v);
    now.logs.unshift(...old.logs);
    now.pushes.unshift(...old.pushes);
    this.#pendingLogLines = now.logs.reduce((n, [, lines]) => n + lines.length, 0);
  }

  #noteRetry(at: number): void {
    if (this.#nextRetryAt === null || at < this.#nextRetryAt) this.#nextRetryAt = at;
  }

  /** One timer for the earliest due run or retry. */
  #armWake(): void {
    const at = Math.min(this.#nextRetryAt ?? Infinity, this.#nextRunAt ?? Infinity);
    this.#wake.at(at);
  }

  async #structure(trx: Parameters<typeof getBundleCode>[0], versionId: number): Promise<SerializedDag> {
    return (await this.#cache.version(trx, versionId)).graph.dag;
  }

  /**
   * Tries of this scheduler handed to the broker more than queuedTimeoutMs ago (or published again
   * that long ago) that no worker has started: their message may be lost (a broker restarted
   * without its data, a publish that failed, deliveries used up). Published again, under the same
   * try id: a message that is still there is not duplicated (Redis: the job id is the try id), and
   * a second delivery starts nothing (the start is a compare-and-set).
   */
  async #republishLost(ctx: SqlContext, now: number): Promise<DispatchItem[]> {
    const before = now - this.#config.queuedTimeoutMs;
    // Those published again lately are left out in the query, so that they cannot fill its limit.
    const recent = [...this.#republished].flatMap(([tryId, at]) => (at >= before ? [parseTryId(tryId)?.tiId ?? 0] : []));
    const rows = await ctx.db
      .selectFrom("task_instance")
      .select(["id", "dag_run_id", "dag_id", "task_id", "try_id", "try_number", "max_tries", "queued_at"])
      .where("state", "=", "queued")
      .where("job_id", "=", this.#jobId)
      .where("queued_at", "<", before)
      .$if(recent.length > 0, (q) => q.where("id", "not in", recent))
      .orderBy("queued_at")
      .limit(1_000)
      .execute();
    const due = rows.filter((r) => r.try_id !== null && (this.#republished.get(r.try_id) ?? r.queued_at!) < before);
    const items = await tryPayloads(
      ctx,
      this.#cache,
      due.map((r) => ({ tryId: r.try_id!, tiId: r.id, dagRunId: r.dag_run_id, dagId: r.dag_id, taskId: r.task_id, tryNumber: r.try_number, maxTries: r.max_tries })),
      this.#config.xcomMaxBytes,
    );
    for (const item of items) this.#republished.set(item.tryId, now);
    return items;
  }

  /** Tries whose task instance was marked or cleared elsewhere are stopped (not those that just ended). */
  async #killStaleTries(ctx: SqlContext, pending: Pending): Promise<void> {
    // A remote try is told to stop by the answer to its heartbeat (see src/api/execution.ts).
    if (this.#executor.remote) return;
    const live = [...this.#inflight.keys()].filter((tryId) => !pending.finished.has(tryId));
    if (live.length === 0) return;
    for (const { tryId, state } of await heartbeatTries(ctx, live)) {
      const t = this.#inflight.get(tryId)!;
      this.#log.info({ dagId: t.dagId, taskId: t.taskId, state }, "the task instance changed elsewhere; stopping its try");
      this.#executor.kill(tryId, `the task instance was set to ${state ?? "deleted"} elsewhere`);
    }
  }

  async #pullXcom(tryId: string, taskId: string, key: string): Promise<string | null> {
    const t = this.#inflight.get(tryId);
    if (!t) return null;
    for (let i = this.#pending.pushes.length - 1; i >= 0; i--) {
      const [pushTry, pushKey, value] = this.#pending.pushes[i]!;
      const other = this.#inflight.get(pushTry);
      if (other && other.dagRunId === t.dagRunId && other.taskId === taskId && pushKey === key) return value;
    }
    const row = await this.#store.db
      .selectFrom("xcom")
      .select("value")
      .where("dag_run_id", "=", t.dagRunId)
      .where("task_id", "=", taskId)
      .where("key", "=", key)
      .executeTakeFirst();
    return row?.value ?? null;
  }

  /**
   * A variable or connection for a try of this scheduler that is still in flight, and no other:
   * read outside the tick (like an XCom pull), so a try that reads nothing costs nothing. Errors
   * other than Updraft's own (the database) are logged here and reach the task without detail.
   */
  async #forTry<T extends StoredVariable | ConnectionParts>(tryId: string, what: "variable" | "connection", read: () => Promise<T | null>): Promise<T | null> {
    if (!this.#inflight.has(tryId)) throw new UpdraftError("UPDRAFT_E_TRY_INTERRUPTED", `the try is not running on this scheduler: no ${what} is read for it`);
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof UpdraftError)) this.#log.error({ err: error, tryId }, `reading a ${what} for a task failed`);
      throw error;
    }
  }

  #registerJob(): Promise<number> {
    return registerJob(this.#store.db, this.#onlyRuns ? "test" : "scheduler");
  }

  async #heartbeat(): Promise<void> {
    try {
      if (!(await heartbeatJob(this.#store.db, this.#jobId)) && !this.#stopping) {
        // Declared dead by another scheduler: its tries were handed back, so ours must stop
        // (self-fencing) before they could run twice. Then carry on as a new job.
        this.#log.error("this scheduler was declared dead (missed heartbeats); stopping its tries and registering again");
        for (const tryId of this.#inflight.keys()) this.#executor.kill(tryId, "the scheduler lost its lease");
        this.#inflight.clear();
        this.#jobId = await this.#registerJob();
      }
    } catch (error) {
      if (!this.#store.storage.note(error)) this.#log.warn({ err: error }, "heartbeat failed");
    }
  }

  /** Applies what is pending, stops the executor, and hands back tries that were running. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const t of this.#timers) clearInterval(t);
    this.#wake.clear();
    if (this.#delayedTick) clearTimeout(this.#delayedTick);
    this.#unsubscribe?.();
    await this.#ticking;
    if (this.#hasPending()) await this.#tick().catch(() => {});
    for (const resolve of this.#passWaiters.splice(0)) resolve();
    await this.#executor.stop();
    try {
      const now = Date.now();
      await this.#store.transaction(async (trx) => {
        await handBackTries(trx, this.#cache, { ownJobId: this.#jobId, interrupted: true, now });
        await trx.updateTable("job").set({ state: "stopped", stopped_at: now }).where("id", "=", this.#jobId).execute();
      });
    } catch (error) {
      this.#log.error({ err: error }, "could not hand back running tries at shutdown; another scheduler will once this one counts as dead");
    }
  }
}
