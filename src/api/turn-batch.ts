/**
 * Calls that arrive while the previous batch runs share one transaction, as a scheduler's reports
 * share a tick: under load a commit is paid per batch, not per request, and an idle server
 * answers a lone call at once.
 */
export class TurnBatch<I, O> {
  readonly #run: (items: I[]) => Promise<Array<O | Error>>;
  #waiting: Array<{ item: I; resolve: (value: O) => void; reject: (error: unknown) => void }> = [];
  #running = false;
  #scheduled = false;

  /** `run` answers each item in order: its value, or the error its caller gets. */
  constructor(run: (items: I[]) => Promise<Array<O | Error>>) {
    this.#run = run;
  }

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#running || this.#scheduled || this.#waiting.length === 0) return;
    this.#scheduled = true;
    // The calls already read in this turn of the event loop join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#waiting;
    this.#waiting = [];
    this.#running = true;
    try {
      const answers = await this.#run(batch.map((b) => b.item));
      answers.forEach((answer, i) => (answer instanceof Error ? batch[i]!.reject(answer) : batch[i]!.resolve(answer)));
    } catch (error) {
      for (const b of batch) b.reject(error);
    } finally {
      this.#running = false;
      this.#schedule();
    }
  }
}
