/** The one interface every executor implements; the scheduler knows executors only by it. */
import type { DispatchItem, LogLine, TryResult } from "../runner/protocol.js";

export type { DispatchItem, LogLine, TryResult };

export interface ExecutorCallbacks {
  /** The try began on a runner. */
  started(tryId: string, info: { hostname: string; pid: number; at: number }): void;
  /** Log lines of a try, also for a while after it ended (what a stopped try logs on its way out). */
  log(tryId: string, lines: LogLine[]): void;
  xcomPush(tryId: string, key: string, value: string): void;
  /** The try ended: by its own result, a timeout, a crash or a kill. Called once per try. */
  finished(tryId: string, result: TryResult): void;
  /** A value the try asks for by `ctx.xcom.pull` (JSON text or null). */
  pullXcom(tryId: string, taskId: string, key: string): Promise<string | null>;
  /** The bundle's code, to write it where runners can import it. */
  loadBundle(hash: string): Promise<string>;
}

export interface Executor {
  readonly name: string;
  start(callbacks: ExecutorCallbacks): Promise<void>;
  /** How many more tries it can take now. */
  freeSlots(): number;
  /** Starts the tries; each ends with exactly one `finished` callback. */
  dispatch(tries: DispatchItem[]): void;
  /** Stops a try (it was marked or cleared elsewhere); its `finished` still comes. */
  kill(tryId: string, reason: string): void;
  /** Tries started and not yet finished. */
  activeTryIds(): string[];
  /** Kills every try and releases the runners. */
  stop(): Promise<void>;
}
