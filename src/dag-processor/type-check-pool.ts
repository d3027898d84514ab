/**
 * Parent side of the type-check worker: one subprocess, checks one file at a time in the order
 * asked, beside the imports rather than in front of them (it runs at a lower CPU priority). A
 * check that outlives its timeout, or a worker that dies (out of memory, a crash), costs only the
 * worker: it is killed and the next check starts a new one. The worker stays warm between checks
 * (that is what makes a check after the first cheap) and exits after a few idle seconds, because
 * a warm TypeScript holds 150–200 MB.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { setPriority } from "node:os";
import { childEntry, forkChild } from "../util/child.js";
import type { TypeDiagnostic } from "./type-check-config.js";
import type { TypeCheckRequest, TypeCheckResponse } from "./type-check-protocol.js";

export type TypeCheckOutcome =
  | { kind: "checked"; diagnostics: TypeDiagnostic[]; ms: number }
  /** The checker could not finish: timeout, memory limit, crash. */
  | { kind: "failed"; message: string }
  /** A newer check of the same file replaced this one before it started, or the pool closed. */
  | { kind: "cancelled" };

interface Job {
  request: Omit<TypeCheckRequest, "type" | "id">;
  resolve: (outcome: TypeCheckOutcome) => void;
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  checks: number;
  stderr: string;
}

const RECYCLE_AFTER = 200;
const IDLE_MS = 10_000;
/** Below the scheduler and the imports: type checks are background work. */
const NICENESS = 10;
/**
 * The time limit is on CPU time: a check at low priority on a busy machine may wait long for the
 * CPU without being at fault. Wall-clock time is the backstop, at this multiple of the limit (and
 * the only measure where /proc is not there).
 */
const WALL_FACTOR = 10;
const POLL_MS = 250;

/** CPU time (user + system) of a process in ms, from /proc (Linux); null where it cannot be read. */
function cpuTimeMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields after the command name (which may hold spaces); utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
/** USER_HZ, the unit of /proc's times: 100 on Linux's architectures. */
const CLOCK_TICKS = 100;

export class TypeCheckPool {
  readonly #timeoutMs: number;
  readonly #memoryMb: number;
  readonly #idleMs: number;
  /** Waiting checks by key (a file), oldest first. */
  readonly #queue = new Map<string, Job>();
  #worker: Worker | null = null;
  #idleTimer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #nextId = 1;
  #closed = false;

  constructor(options: { timeoutMs: number; memoryLimitMb: number; idleMs?: number }) {
    this.#timeoutMs = options.timeoutMs;
    this.#memoryMb = options.memoryLimitMb;
    this.#idleMs = options.idleMs ?? IDLE_MS;
  }

  /** The worker's process id while it runs (for measurements). */
  get pid(): number | undefined {
    return this.#worker?.child.pid;
  }

  /**
   * Checks a file; never throws. Asking again for the same `key` before its check started
   * replaces the waiting one (which resolves as cancelled).
   */
  check(key: string, request: Job["request"]): Promise<TypeCheckOutcome> {
    if (this.#closed) return Promise.resolve({ kind: "cancelled" });
    return new Promise((resolve) => {
      this.#queue.get(key)?.resolve({ kind: "cancelled" });
      this.#queue.delete(key);
      this.#queue.set(key, { request, resolve });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#running || this.#closed) return;
    this.#running = this.#drain().finally(() => {
      this.#running = null;
      // A check asked for while the last one was being handed over.
      if (this.#queue.size > 0) this.#kick();
    });
  }

  /** Resolves once no check is waiting or running. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    for (let next = this.#queue.entries().next(); !next.done && !this.#closed; next = this.#queue.entries().next()) {
      const [key, job] = next.value;
      this.#queue.delete(key);
      job.resolve(await this.#run(job.request));
    }
    if (this.#worker && !this.#closed) {
      this.#idleTimer = setTimeout(() => this.#stopWorker(), this.#idleMs);
      this.#idleTimer.unref();
    }
  }

  #spawn(): Worker {
    const child = forkChild(childEntry(import.meta.url, "type-check-worker-main"), {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      execArgv: [`--max-old-space-size=${this.#memoryMb}`],
    });
    try {
      if (child.pid !== undefined) setPriority(child.pid, NICENESS);
    } catch {
      // not allowed here: the check still runs, at normal priority
    }
    const worker: Worker = { child, checks: 0, stderr: "", ready: Promise.resolve() };
    child.stderr?.on("data", (chunk: Buffer) => {
      worker.stderr = (worker.stderr + chunk.toString()).slice(-4000);
    });
    worker.ready = new Promise((resolve, reject) => {
      const onMessage = (m: TypeCheckResponse) => {
        if (m.type === "ready") {
          child.off("message", onMessage);
          resolve();
        }
      };
      child.on("message", onMessage);
      child.once("exit", (code, signal) => reject(new Error(`the type-check worker exited before it was ready (${signal ?? `exit code ${code}`}): ${worker.stderr.trim()}`)));
    });
    worker.ready.catch(() => {});
    child.once("exit", () => {
      if (this.#worker === worker) this.#worker = null;
    });
    return worker;
  }

  #stopWorker(): void {
    this.#worker?.child.kill("SIGKILL");
    this.#worker = null;
  }

  async #run(request: Job["request"]): Promise<TypeCheckOutcome> {
    const started = performance.now();
    const worker = (this.#worker ??= this.#spawn());
    const id = this.#nextId++;
    return new Promise<TypeCheckOutcome>((resolve) => {
      const { child } = worker;
      let finished = false;
      const done = (outcome: TypeCheckOutcome, healthy: boolean) => {
        if (finished) return;
        finished = true;
        clearInterval(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
        worker.checks++;
        if (!healthy || worker.checks >= RECYCLE_AFTER) {
          child.kill("SIGKILL");
          if (this.#worker === worker) this.#worker = null;
        }
        resolve(this.#closed ? { kind: "cancelled" } : outcome);
      };
      const onMessage = (m: TypeCheckResponse) => {
        if (m.type === "result" && m.id === id) done({ kind: "checked", diagnostics: m.diagnostics, ms: performance.now() - started }, true);
        else if (m.type === "failed" && m.id === id) done({ kind: "failed", message: m.message }, true);
      };
      const onExit = (code: number | null, signal: string | null) => {
        const tail = worker.stderr.trim().split("\n").slice(-3).join(" | ");
        const memory = /heap limit|out of memory/i.test(worker.stderr) ? ` (over the memory limit of ${this.#memoryMb} MB)` : "";
        done({ kind: "failed", message: `the type checker ended (${signal ?? `exit code ${code}`})${memory}${tail ? `: ${tail}` : ""}` }, false);
      };
      const cpuAtStart = cpuTimeMs(child.pid);
      const timer = setInterval(() => {
        const cpu = cpuTimeMs(child.pid);
        const wall = performance.now() - started;
        if (cpu !== null && cpuAtStart !== null && cpu - cpuAtStart > this.#timeoutMs) {
          done({ kind: "failed", message: `type checking took longer than ${this.#timeoutMs / 1000}s of CPU time and was stopped (the limit is UPDRAFT_IMPORT_TIMEOUT)` }, false);
        } else if (wall > this.#timeoutMs * (cpu === null ? 1 : WALL_FACTOR)) {
          done({ kind: "failed", message: `type checking did not finish within ${Math.round(wall / 1000)}s and was stopped (the limit is UPDRAFT_IMPORT_TIMEOUT)` }, false);
        }
      }, Math.min(POLL_MS, this.#timeoutMs));
      child.on("message", onMessage);
      child.once("exit", onExit);
      worker.ready.then(
        () => {
          const message: TypeCheckRequest = { type: "check", id, ...request };
          // A channel that closed meanwhile is reported by the exit handler.
          if (!finished) child.send(message, (error) => error && done({ kind: "failed", message: `the type checker could not be reached: ${error.message}` }, false));
        },
        (error: unknown) => done({ kind: "failed", message: (error as Error).message }, false),
      );
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    for (const job of this.#queue.values()) job.resolve({ kind: "cancelled" });
    this.#queue.clear();
    this.#stopWorker();
    await this.#running;
  }
}
