/**
 * A full disk under the metadata database. It is an outside condition that passes by itself once
 * space is freed, so nothing may die of it: the store notices it on the error of any write, says
 * so once, answers `full` until a small probe write succeeds again, and tells its listeners when
 * writes work again. The scheduler pauses new work meanwhile (it keeps what its tries reported
 * and stores it on recovery), the API answers writes with 503 and `/health` says why.
 * See docs/RELIABILITY.md.
 */
import { UpdraftError, errorMessage, isStorageFull } from "../errors/index.js";
import type { Logger } from "../util/logger.js";

export { isStorageFull };

export interface StorageFull {
  /** Epoch ms of the first failed write of this episode. */
  since: number;
  message: string;
}

const PROBE_EVERY_MS = 1_000;
/**
 * Writes must keep working this long after the probe succeeded before the episode counts as
 * over: a disk with a few free pages lets the tiny probe through and fails the next big write.
 */
const SETTLE_MS = 10_000;

export interface StorageStateOptions {
  /** One small real write: it fails while the disk is full and succeeds once space is back. */
  probe: () => Promise<void>;
  /** Free bytes for the database, where they can be read (SQLite: its file system); null: unknown. */
  freeBytes?: () => number | null;
  /** Below this many free bytes the disk still counts as full, whatever the probe says. */
  minFreeBytes?: number;
  /** What the disk is, for messages ("the SQLite database /var/lib/updraft/updraft.db"). */
  where: string;
  log?: Logger | null;
}

/**
 * The storage state of one store. An episode starts with the first write that fails for lack of
 * space (logged once, as an error) and ends when writes have worked again for SETTLE_MS (logged
 * once); within it the state may flip between full and writable without more log lines.
 */
export class StorageState {
  readonly #options: StorageStateOptions;
  readonly #listeners = new Set<(full: StorageFull | null) => void>();
  #full: StorageFull | null = null;
  /** Start of the episode, which outlives `#full` until writes have settled. */
  #episodeSince: number | null = null;
  #probeTimer: NodeJS.Timeout | null = null;
  #settleTimer: NodeJS.Timeout | null = null;
  #probing = false;
  #closed = false;

  constructor(options: StorageStateOptions) {
    this.#options = options;
  }

  get full(): StorageFull | null {
    return this.#full;
  }

  /** Notes the error of a write: true (and the state is `full`) when it was a full disk. */
  note(error: unknown): boolean {
    if (!isStorageFull(error)) return false;
    if (this.#full || this.#closed) return true;
    const now = Date.now();
    this.#full = { since: this.#episodeSince ?? now, message: errorMessage(error) };
    if (this.#settleTimer) clearTimeout(this.#settleTimer);
    this.#settleTimer = null;
    if (this.#episodeSince === null) {
      this.#episodeSince = now;
      const where = this.#options.where;
      this.#options.log?.error(
        { code: "UPDRAFT_E_STORAGE_FULL", hint: `free space on the disk of ${where}` },
        `the metadata database cannot store changes: the disk of ${where} is full (${this.#full.message}); new work is paused and writes answer 503 until space is freed, then Updraft resumes by itself`,
      );
    }
    this.#emit();
    this.#probeTimer = setInterval(() => void this.#check(), PROBE_EVERY_MS);
    this.#probeTimer.unref();
    return true;
  }

  /** A 503 error for a request that needs to write, while the disk is full. */
  error(): UpdraftError {
    return storageFullError(this.#options.where);
  }

  onChange(listener: (full: StorageFull | null) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#closed = true;
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    if (this.#settleTimer) clearTimeout(this.#settleTimer);
    this.#probeTimer = this.#settleTimer = null;
  }

  async #check(): Promise<void> {
    if (this.#probing || !this.#full) return;
    const free = this.#options.freeBytes?.() ?? null;
    if (free !== null && free < (this.#options.minFreeBytes ?? 0)) return;
    this.#probing = true;
    try {
      await this.#probe();
    } catch (error) {
      // Still full. Any other failure (a lock held elsewhere) says nothing about space: the
      // state clears, and the next write that finds the disk full sets it again.
      if (isStorageFull(error) || this.#closed) return;
    } finally {
      this.#probing = false;
    }
    if (!this.#full) return;
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    this.#probeTimer = null;
    this.#full = null;
    const writableAt = Date.now();
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = null;
      const since = this.#episodeSince;
      this.#episodeSince = null;
      if (since !== null) this.#options.log?.info({ pausedMs: writableAt - since }, "the metadata database stores changes again; work resumed");
    }, SETTLE_MS);
    this.#settleTimer.unref();
    this.#emit();
  }

  #probe(): Promise<void> {
    return this.#options.probe();
  }

  #emit(): void {
    for (const l of this.#listeners) {
      try {
        l(this.#full);
      } catch (error) {
        this.#options.log?.error({ err: error }, "a storage listener failed");
      }
    }
  }
}

export function storageFullError(where: string): UpdraftError {
  return new UpdraftError("UPDRAFT_E_STORAGE_FULL", `the metadata database cannot store changes: the disk of ${where} is full`, {
    hint: "free space on that disk; Updraft resumes by itself, and reads keep working meanwhile",
  });
}
