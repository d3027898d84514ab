/** Counting attempts per key over a sliding minute, in this process (each API server counts its own). */
export class MinuteLimiter {
  readonly #hits = new Map<string, number[]>();
  constructor(readonly max: number) {}

  #recent(key: string, now: number): number[] {
    const recent = (this.#hits.get(key) ?? []).filter((t) => now - t < 60_000);
    if (recent.length > 0) this.#hits.set(key, recent);
    else this.#hits.delete(key);
    return recent;
  }

  /** Seconds to wait when the key is at its limit, else 0; counts nothing. */
  peek(key: string): number {
    const now = Date.now();
    const recent = this.#recent(key, now);
    return recent.length >= this.max ? Math.max(1, Math.ceil((recent[0]! + 60_000 - now) / 1000)) : 0;
  }

  /** Counts one attempt. */
  take(key: string): void {
    const now = Date.now();
    this.#hits.set(key, [...this.#recent(key, now), now]);
    if (this.#hits.size > 10_000) for (const [k, v] of this.#hits) if (v.every((t) => now - t >= 60_000)) this.#hits.delete(k);
  }
}
