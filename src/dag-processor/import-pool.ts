/**
 * Parent side of the DAG import workers: a few warm subprocesses, each importing one file at a
 * time. An import that outlives its timeout, or a worker that dies, costs only that worker: it
 * is killed and replaced, and the file gets an import error.
 */
import type { ChildProcess } from "node:child_process";
import { childEntry, forkChild, killGroup } from "../util/child.js";
import type { SerializedDag } from "../dag/model.js";
import type { ImportFailure, ImportRequest, ImportResponse } from "./import-protocol.js";

export interface ImportOutcome {
  dags: SerializedDag[];
  errors: ImportFailure[];
}

interface Worker {
  child: ChildProcess;
  idleTimer: NodeJS.Timeout | null;
  ready: Promise<void>;
  busy: boolean;
  imports: number;
  stderr: string;
}

const RECYCLE_AFTER = 200;
/** Idle workers go away after this long; the next scan starts new ones (~100 ms each). */
const IDLE_MS = 10_000;

export class ImportPool {
  readonly #size: number;
  readonly #timeoutMs: number;
  readonly #memoryMb: number;
  readonly #workers = new Set<Worker>();
  readonly #waiting: Array<(worker: Worker) => void> = [];
  #nextId = 1;
  #closed = false;

  constructor(options: { size: number; timeoutMs: number; memoryLimitMb: number }) {
    this.#size = Math.max(1, options.size);
    this.#timeoutMs = options.timeoutMs;
    this.#memoryMb = options.memoryLimitMb;
  }

  #spawn(): Worker {
    // Its own process group: what a DAG file starts while it is imported goes with the worker.
    const child = forkChild(childEntry(import.meta.url, "import-worker-main"), {
      detached: true,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      execArgv: [`--max-old-space-size=${this.#memoryMb}`],
    });
    const worker: Worker = { child, idleTimer: null, busy: false, imports: 0, stderr: "", ready: Promise.resolve() };
    child.stderr?.on("data", (chunk: Buffer) => {
      worker.stderr = (worker.stderr + chunk.toString()).slice(-4000);
    });
    worker.ready = new Promise((resolve, reject) => {
      const onMessage = (m: ImportResponse) => {
        if (m.type === "ready") {
          child.off("message", onMessage);
          resolve();
        }
      };
      child.on("message", onMessage);
      child.once("exit", (code) => reject(new Error(`the import worker exited before it was ready (code ${code}): ${worker.stderr.trim()}`)));
    });
    worker.ready.catch(() => {});
    child.once("exit", () => {
      this.#workers.delete(worker);
      killGroup(child); // what the DAG file started does not outlive the worker
    });
    this.#workers.add(worker);
    return worker;
  }

  async #acquire(): Promise<Worker> {
    for (const w of this.#workers) {
      if (!w.busy && w.child.exitCode === null) {
        w.busy = true;
        if (w.idleTimer) clearTimeout(w.idleTimer);
        w.idleTimer = null;
        return w;
      }
    }
    if (this.#workers.size < this.#size) {
      const w = this.#spawn();
      w.busy = true;
      return w;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(worker: Worker, healthy: boolean): void {
    if (!healthy || worker.imports >= RECYCLE_AFTER || this.#closed) {
      killGroup(worker.child);
      this.#workers.delete(worker);
      const next = this.#waiting.shift();
      if (next && !this.#closed) {
        const w = this.#spawn();
        w.busy = true;
        next(w);
      }
      return;
    }
    const next = this.#waiting.shift();
    if (next) {
      next(worker);
      return;
    }
    worker.busy = false;
    this.#idle(worker);
  }

  #idle(worker: Worker): void {
    worker.idleTimer = setTimeout(() => {
      if (worker.busy) return;
      this.#workers.delete(worker);
      killGroup(worker.child);
    }, IDLE_MS);
    worker.idleTimer.unref();
  }

  /** Starts a worker ahead of the first import, which then need not wait for it to be ready. */
  warm(): void {
    if (this.#closed || this.#workers.size > 0) return;
    this.#idle(this.#spawn());
  }

  /** Imports a bundle written at `bundlePath`; never throws, failures come back as errors. */
  async importFile(bundlePath: string, fileloc: string, dagsFolder: string): Promise<ImportOutcome> {
    const worker = await this.#acquire();
    const id = this.#nextId++;
    const fail = (message: string, code = "UPDRAFT_E_IMPORT_FAILED"): ImportOutcome => ({ dags: [], errors: [{ code, message, location: null, line: null, column: null, stack: null }] });
    try {
      await worker.ready;
    } catch (error) {
      this.#release(worker, false);
      return fail((error as Error).message);
    }
    worker.imports++;
    return new Promise<ImportOutcome>((resolve) => {
      const { child } = worker;
      const done = (outcome: ImportOutcome, healthy: boolean) => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
        this.#release(worker, healthy);
        resolve(outcome);
      };
      const onMessage = (m: ImportResponse) => {
        if (m.type === "result" && m.id === id) done({ dags: m.dags, errors: m.errors }, true);
      };
      const onExit = (code: number | null, signal: string | null) => {
        const tail = worker.stderr.trim().split("\n").slice(-3).join(" | ");
        done(fail(`the DAG file ended the import process (${signal ?? `exit code ${code}`})${tail ? `: ${tail}` : ""}`), false);
      };
      const timer = setTimeout(() => {
        done(fail(`importing took longer than ${this.#timeoutMs / 1000}s and was stopped; look for an endless loop or a slow call at the top level of the file (the limit is UPDRAFT_IMPORT_TIMEOUT)`, "UPDRAFT_E_IMPORT_TIMEOUT"), false);
      }, this.#timeoutMs);
      child.on("message", onMessage);
      child.once("exit", onExit);
      const request: ImportRequest = { type: "import", id, bundlePath, fileloc, dagsFolder };
      child.send(request);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#workers) {
      if (w.idleTimer) clearTimeout(w.idleTimer);
      killGroup(w.child);
    }
    this.#workers.clear();
  }
}
