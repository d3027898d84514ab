/**
 * One timer for the earliest of the times asked for: asking for a time later than the one armed
 * changes nothing, an earlier one re-arms it. It does not keep the process alive.
 */
export class EarliestTimer {
  #timer: NodeJS.Timeout | null = null;
  #at = Infinity;
  readonly #fire: () => void;
  readonly #minDelayMs: number;

  constructor(fire: () => void, minDelayMs = 0) {
    this.#fire = fire;
    this.#minDelayMs = minDelayMs;
  }

  /** Fires at `time` (epoch ms) unless it is already armed for that time or earlier. */
  at(time: number): void {
    if (time === Infinity || time >= this.#at) return;
    this.clear();
    this.#at = time;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#at = Infinity;
      this.#fire();
    }, Math.max(this.#minDelayMs, time - Date.now()));
    this.#timer.unref();
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#at = Infinity;
  }
}
