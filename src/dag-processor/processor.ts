/**
 * The DAG processor: keeps the stored DAGs in step with the DAGs folder. Files are found by a
 * scan (on start, on file-system events, and every `dagRescanIntervalMs`); a file is bundled again
 * when it or any file it imports changed, imported in a worker subprocess when its bundle is new,
 * and its DAGs stored as a new version when their content hash changed.
 *
 * Type checking (`typeCheck`) runs in a subprocess of its own beside the imports. With "warn" the
 * file's DAGs are stored at once and the check follows; its result becomes the file's import
 * warning when it arrives, unless the file was processed again meanwhile. With "error" the check
 * runs alongside the import and the file is stored when both are done, type errors being import
 * errors (the file's DAGs keep their last version), so that mode costs the pickup the check's
 * time.
 */
import { watch, type FSWatcher } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Config } from "../config/index.js";
import { validateDag } from "../dag/validate.js";
import { errorMessage } from "../errors/index.js";
import type { Store } from "../store/connect.js";
import { isStorageFull } from "../store/storage.js";
import { forgetMissingFiles, recordFileResult, type FileImportError, type FileReport } from "../store/dags.js";
import { recordImportWarning } from "../store/import-warnings.js";
import { heartbeatJob, registerJob, stopJob } from "../store/jobs.js";
import type { Logger } from "../util/logger.js";
import { ensurePrivateDir, writePrivateFileAtomic } from "../util/private-files.js";
import { bundleDagFile, isBundleFailure } from "./bundle.js";
import { discoverDagFiles, MAX_DAG_FILE_BYTES } from "./discover.js";
import { ImportPool } from "./import-pool.js";
import { formatDiagnostics, displayPath } from "./type-check-config.js";
import { TypeCheckPool, type TypeCheckOutcome } from "./type-check-pool.js";

interface FileState {
  /** mtime of every file the bundle was built from. */
  inputs: Map<string, number>;
  bundleHash: string | null;
  processedAt: number;
  failed: boolean;
  /** The folder's change count when the file was processed (a failed file retries on any change). */
  changes: number;
  /** When the file's DAGs were last written to the store. */
  recordedAt: number;
}

export interface ProcessorEvent {
  fileloc: string;
  report: FileReport | null;
  error: string | null;
}

export interface ScanSummary {
  files: number;
  processed: number;
  errors: number;
}

export class DagProcessor {
  readonly #store: Store;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #pool: ImportPool;
  readonly #bundleDir: string;
  readonly #files = new Map<string, FileState>();
  readonly #onEvent: (event: ProcessorEvent) => void;
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #scanning: Promise<ScanSummary> | null = null;
  #rescan = false;
  #stopped = false;
  #changes = 0;
  #jobId: number | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #unsubscribeStorage: (() => void) | null = null;
  #diskFullLoggedAt = -Infinity;
  readonly #checks: TypeCheckPool | null;
  readonly #backgroundChecks: boolean;
  /** Bumped each time a file is processed: a type check of an older round is stale. */
  readonly #rounds = new Map<string, number>();
  #roundCounter = 0;
  /** Warn-mode checks on their way to the store. */
  readonly #pendingWarnings = new Set<Promise<void>>();

  /**
   * `backgroundTypeChecks: false` (one-off scans that stop right after) skips the checks of
   * typeCheck "warn", whose results would come after the scan; "error" checks always run.
   */
  constructor(options: { store: Store; config: Config; log: Logger; onEvent?: (event: ProcessorEvent) => void; backgroundTypeChecks?: boolean }) {
    this.#store = options.store;
    this.#config = options.config;
    this.#log = options.log;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#bundleDir = join(options.config.home, "cache", "bundles");
    this.#pool = new ImportPool({
      size: Math.min(2, availableParallelism()),
      timeoutMs: options.config.importTimeoutMs,
      memoryLimitMb: options.config.runnerMemoryLimitMb,
    });
    this.#backgroundChecks = options.backgroundTypeChecks ?? true;
    this.#checks = options.config.typeCheck === "off" ? null : new TypeCheckPool({ timeoutMs: options.config.importTimeoutMs, memoryLimitMb: options.config.runnerMemoryLimitMb });
  }

  /** The type-check worker's process id while it runs (for measurements). */
  get typeCheckPid(): number | undefined {
    return this.#checks?.pid;
  }

  /** Resolves once every type check started so far has been recorded (or found stale). */
  async typeChecksSettled(): Promise<void> {
    while (this.#pendingWarnings.size > 0) await Promise.allSettled([...this.#pendingWarnings]);
  }

  get dagsFolder(): string {
    return this.#config.dagsFolder;
  }

  /** Scans once, then keeps watching the folder until stop(). */
  async start(): Promise<ScanSummary> {
    this.#jobId = await registerJob(this.#store.db, "dag_processor");
    this.#heartbeat = setInterval(() => void heartbeatJob(this.#store.db, this.#jobId!).catch((e: unknown) => this.#store.storage.note(e)), this.#config.heartbeatIntervalMs);
    this.#heartbeat.unref();
    // Scans pause while the database's disk is full and go on once it can write again.
    this.#unsubscribeStorage = this.#store.storage.onChange((full) => {
      if (!full && !this.#stopped) void this.scan().catch(() => {});
    });
    const summary = await this.scan();
    this.#startWatching();
    this.#timer = setInterval(() => void this.scan().catch((e: unknown) => this.#log.error({ err: e }, "DAG folder scan failed")), this.#config.dagRescanIntervalMs);
    this.#timer.unref();
    return summary;
  }

  #startWatching(): void {
    if (!existsSync(this.dagsFolder)) {
      this.#log.warn({ dagsFolder: this.dagsFolder }, "the DAGs folder does not exist; it is checked again every rescan");
      return;
    }
    try {
      this.#watcher = watch(this.dagsFolder, { recursive: true }, () => {
        this.#changes++;
        if (this.#debounce) clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => void this.scan().catch(() => {}), 50);
      });
      this.#watcher.on("error", () => {
        this.#watcher?.close();
        this.#watcher = null;
      });
    } catch {
      this.#watcher = null; // the periodic rescan still finds changes
    }
  }

  /** One pass over the folder; concurrent calls share a pass and ask for one more after it. */
  scan(): Promise<ScanSummary> {
    if (this.#scanning) {
      this.#rescan = true;
      return this.#scanning;
    }
    this.#scanning = this.#scanOnce().finally(() => {
      this.#scanning = null;
      if (this.#rescan && !this.#stopped) {
        this.#rescan = false;
        void this.scan().catch(() => {});
      }
    });
    return this.#scanning;
  }

  async #scanOnce(): Promise<ScanSummary> {
    if (this.#store.storage.full) return { files: 0, processed: 0, errors: 0 };
    if (!this.#watcher && !this.#stopped && this.#timer) this.#startWatching();
    const files = discoverDagFiles(this.dagsFolder);
    const existing = new Set(files);
    const now = Date.now();
    const due: string[] = [];
    for (const file of files) if (await this.#isDue(file, now)) due.push(file);
    // An import worker gets ready while the files are bundled.
    if (due.length > 0) this.#pool.warm();
    let errors = 0;
    await Promise.all(
      due.map(async (file) => {
        if (!(await this.#process(file, existing))) errors++;
      }),
    );
    for (const known of [...this.#files.keys()]) {
      if (!existing.has(known)) {
        this.#files.delete(known);
        this.#rounds.delete(known);
      }
    }
    const gone = await forgetMissingFiles(this.#store, this.dagsFolder, existing, Date.now());
    if (gone.length > 0) this.#log.info({ dags: gone }, "DAG files are gone; their DAGs are now inactive");
    return { files: files.length, processed: due.length, errors };
  }

  async #isDue(file: string, now: number): Promise<boolean> {
    const state = this.#files.get(file);
    if (!state || now - state.processedAt >= this.#config.dagReparseIntervalMs) return true;
    // A failed file may be fixed by a file it does not import yet (a module that was missing).
    if (state.failed && state.changes !== this.#changes) return true;
    for (const [input, mtime] of state.inputs) {
      try {
        if ((await stat(input)).mtimeMs !== mtime) return true;
      } catch {
        return true;
      }
    }
    return false;
  }

  async #mtimes(paths: string[]): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    for (const p of paths) {
      try {
        result.set(p, (await stat(p)).mtimeMs);
      } catch {
        result.set(p, -1);
      }
    }
    return result;
  }

  /** Bundles, imports and stores one file; false when it has an import error. */
  async #process(fileloc: string, existing: ReadonlySet<string>): Promise<boolean> {
    const abs = join(this.dagsFolder, fileloc);
    const previous = this.#files.get(fileloc);
    const now = Date.now();
    const changes = this.#changes;
    const mode = this.#config.typeCheck;
    const before = await this.#mtimes([abs]);
    let source: string;
    let size: number;
    try {
      size = (await stat(abs)).size;
      source = size > MAX_DAG_FILE_BYTES ? "" : await readFile(abs, "utf8");
    } catch (error) {
      this.#log.debug({ fileloc, err: error }, "DAG file vanished while being read");
      return true;
    }
    const base = { dagsFolder: this.dagsFolder, fileloc, source, existingFiles: existing, pausedAtCreation: this.#config.dagsArePausedAtCreation, now, clearWarning: mode !== "warn" };
    try {
      if (size > MAX_DAG_FILE_BYTES) {
        const message = `${fileloc} is ${(size / 1024 / 1024).toFixed(1)} MiB, more than the ${MAX_DAG_FILE_BYTES / 1024 / 1024} MiB a DAG file may be; move data out of it (read it at run time) or split the file`;
        const report = await recordFileResult(this.#store, { ...base, dags: [], bundle: null, error: { code: "UPDRAFT_E_DAG_FILE_TOO_LARGE", message, line: null, column: null, location: null, stack: null } });
        this.#store.eventsAppended();
        this.#files.set(fileloc, { inputs: before, bundleHash: null, processedAt: now, failed: true, changes, recordedAt: now });
        this.#log.warn({ fileloc, bytes: size }, "DAG file is too large");
        this.#onEvent({ fileloc, report, error: message });
        return false;
      }
      await ensurePrivateDir(this.#bundleDir);
      const bundle = await bundleDagFile(abs, this.dagsFolder, this.#bundleDir);
      if (isBundleFailure(bundle)) {
        const location = bundle.file ? `${bundle.file}:${bundle.line}:${bundle.column}` : null;
        const message = location ? `${location}: ${bundle.message}` : bundle.message;
        this.#nextRound(fileloc);
        // A warning of the file's previous content no longer applies (and no check follows).
        const report = await recordFileResult(this.#store, { ...base, clearWarning: true, dags: [], bundle: null, error: { code: "UPDRAFT_E_BUNDLE_FAILED", message, line: bundle.line, column: bundle.column, location, stack: null } });
        this.#store.eventsAppended();
        this.#files.set(fileloc, { inputs: before, bundleHash: null, processedAt: now, failed: true, changes, recordedAt: now });
        this.#log.warn({ fileloc, error: message }, "DAG file failed to bundle");
        this.#onEvent({ fileloc, report, error: message });
        return false;
      }
      const inputs = await this.#mtimes(bundle.inputs);
      inputs.set(abs, before.get(abs)!);
      // An unchanged bundle needs no import; it is still recorded once per reparse interval, so
      // DAGs that were deactivated meanwhile (or rows lost) come back.
      if (previous && previous.bundleHash === bundle.hash && !previous.failed && now - previous.recordedAt < this.#config.dagReparseIntervalMs) {
        this.#files.set(fileloc, { ...previous, inputs, processedAt: now, changes });
        return true;
      }
      const bundlePath = join(this.#bundleDir, `${bundle.hash}.mjs`);
      if (!existsSync(bundlePath)) await writePrivateFileAtomic(bundlePath, bundle.code);
      const gate = mode === "error" && this.#checks ? this.#checks.check(fileloc, { dagsFolder: this.dagsFolder, file: abs, source }) : null;
      const outcome = await this.#pool.importFile(bundlePath, fileloc, this.dagsFolder);
      const typeProblem = gate ? this.#typeProblem(await gate) : null;
      if (typeProblem === "cancelled") {
        this.#files.delete(fileloc); // stopping: leave the file due
        return true;
      }
      if (typeProblem) {
        // Type errors are import errors: none of the file's DAGs is updated.
        outcome.dags = [];
        outcome.errors.unshift({ ...typeProblem, stack: null });
      }
      // The worker ran author code: check what it sent as if it came from outside.
      outcome.dags = outcome.dags.filter((dag) => {
        const problems = validateDag(dag);
        if (problems.length === 0 && dag.fileloc === fileloc) return true;
        outcome.errors.push({ code: "UPDRAFT_E_DAG_DEFINITION", message: `DAG '${String(dag?.dagId)}' is not valid: ${problems.join("; ") || "it names another file"}`, location: null, line: null, column: null, stack: null });
        return false;
      });
      const first = outcome.errors[0];
      const error = first
        ? {
            code: first.code,
            // Type errors name their places themselves, one line each.
            message: outcome.errors.map((e) => (e.location && e.code !== "UPDRAFT_E_TYPE_ERRORS" ? `${e.location}: ${e.message}` : e.message)).join("\n"),
            line: first.line,
            column: first.column,
            location: first.location,
            stack: first.stack,
          }
        : null;
      const round = this.#nextRound(fileloc);
      const report = await recordFileResult(this.#store, { ...base, dags: outcome.dags, bundle, error });
      this.#store.eventsAppended();
      if (mode === "warn" && this.#backgroundChecks) this.#checkInBackground(fileloc, abs, source, round);
      const failed = error !== null || report.clashes.length > 0;
      this.#files.set(fileloc, { inputs, bundleHash: bundle.hash, processedAt: now, failed, changes, recordedAt: now });
      if (error) this.#log.warn({ fileloc, error: error.message }, "DAG file has an import error");
      if (report.created.length || report.newVersions.length) {
        this.#log.info({ fileloc, created: report.created, updated: report.newVersions }, "DAGs registered");
      }
      this.#onEvent({ fileloc, report, error: error?.message ?? null });
      return !failed;
    } catch (error) {
      // A store failure: leave the file due again so the next scan retries it.
      this.#files.delete(fileloc);
      if (!isStorageFull(error)) this.#log.error({ fileloc, err: error }, `processing the DAG file failed: ${errorMessage(error)}`);
      else if (!this.#store.storage.full && Date.now() - this.#diskFullLoggedAt > 60_000) {
        // The bundle cache's disk (the database's disk reports itself).
        this.#diskFullLoggedAt = Date.now();
        this.#log.error({ fileloc, bundleDir: this.#bundleDir }, `the DAG file cannot be processed: the disk is full (${errorMessage(error)}); it is tried again on every scan`);
      }
      return false;
    }
  }

  /** A new round of recording the file: a background type check of an older round is stale. */
  #nextRound(fileloc: string): number {
    const round = ++this.#roundCounter;
    this.#rounds.set(fileloc, round);
    return round;
  }

  /** A type check's result as an import error or warning (null: no type errors). */
  #typeProblem(outcome: TypeCheckOutcome): (FileImportError & { stack: null }) | "cancelled" | null {
    if (outcome.kind === "cancelled") return "cancelled";
    if (outcome.kind === "failed") {
      return { code: "UPDRAFT_E_TYPE_CHECK_FAILED", message: `${outcome.message} (hint: check the file with \`updraft dags check\`, or set UPDRAFT_TYPE_CHECK=off)`, line: null, column: null, location: null, stack: null };
    }
    const list = outcome.diagnostics;
    if (list.length === 0) return null;
    const first = list[0]!;
    const location = first.file !== null && first.line !== null ? `${displayPath(first.file, this.dagsFolder)}:${first.line}:${first.column}` : null;
    return {
      code: "UPDRAFT_E_TYPE_ERRORS",
      message: `${list.length === 1 ? "1 type error" : `${list.length} type errors`}:\n${formatDiagnostics(list, this.dagsFolder)}`,
      line: first.line,
      column: first.column,
      location,
      stack: null,
    };
  }

  /**
   * typeCheck "warn": checks the file after its DAGs were stored, and records the result as its
   * import warning, unless the file was processed again or changed on disk meanwhile.
   */
  #checkInBackground(fileloc: string, abs: string, source: string, round: number): void {
    const pending: Promise<void> = this.#checks!.check(fileloc, { dagsFolder: this.dagsFolder, file: abs, source })
      .then(async (outcome) => {
        const problem = this.#typeProblem(outcome);
        if (problem === "cancelled" || this.#stopped || this.#rounds.get(fileloc) !== round) return;
        const onDisk = await readFile(abs, "utf8").catch(() => null);
        if (onDisk !== source) return; // changed meanwhile: the next round checks it
        const warning = problem && { code: problem.code, message: problem.message, line: problem.line, column: problem.column, location: problem.location };
        if (await recordImportWarning(this.#store, { dagsFolder: this.dagsFolder, fileloc, warning, now: Date.now() })) this.#store.eventsAppended();
        if (warning) this.#log.warn({ fileloc, warning: warning.message }, "DAG file has type errors");
        if (outcome.kind === "checked") this.#log.debug({ fileloc, ms: Math.round(outcome.ms), errors: outcome.diagnostics.length }, "DAG file type-checked");
      })
      .catch((error: unknown) => this.#log.error({ fileloc, err: error }, `recording the type check failed: ${errorMessage(error)}`))
      .finally(() => this.#pendingWarnings.delete(pending));
    this.#pendingWarnings.add(pending);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribeStorage?.();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#watcher?.close();
    await this.#scanning?.catch(() => {});
    await this.#checks?.close();
    await this.typeChecksSettled();
    await this.#pool.close();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#jobId !== null) await stopJob(this.#store.db, this.#jobId).catch(() => {});
  }
}
