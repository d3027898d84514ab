/** The one interface every executor implements; the scheduler knows executors only by it. */
import type { ConnectionParts, DispatchItem, LogLine, StoredVariable, TryResult } from "../runner/protocol.js";

export type { ConnectionParts, DispatchItem, LogLine, StoredVariable, TryResult };

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
  /**
   * A variable the try asks for by `ctx.variable` and its environment does not set, from the
   * metadata database (null when there is none), for that try only. Rejects with an UpdraftError
   * when it cannot be read (a secret, and no keyring to decrypt it).
   */
  readVariable(tryId: string, key: string): Promise<StoredVariable | null>;
  /** The same for `ctx.connection`: the connection with its password and extra decrypted. */
  readConnection(tryId: string, connId: string): Promise<ConnectionParts | null>;
  /** The bundle's code, to write it where runners can import it. */
  loadBundle(hash: string): Promise<string>;
}

export interface Executor {
  readonly name: string;
  /**
   * The tries run elsewhere and report through the task-execution API, not through these
   * callbacks (only `loadBundle` and the like may be called): the scheduler learns of their ends
   * from the store.
   */
  readonly remote?: boolean;
  start(callbacks: ExecutorCallbacks): Promise<void>;
  /** How many more tries it can take now. */
  freeSlots(): number;
  /** Starts the tries; each ends with exactly one `finished` callback (a remote executor's: in the store). */
  dispatch(tries: DispatchItem[]): void;
  /**
   * The bundles of runs that just started: their tries come next, so an executor may fetch and
   * load them ahead (a hint; dispatch works without it).
   */
  prepare?(bundleHashes: readonly string[]): void;
  /** Stops a try (it was marked or cleared elsewhere); its `finished` still comes. */
  kill(tryId: string, reason: string): void;
  /** Tries started and not yet finished. */
  activeTryIds(): string[];
  /** Kills every try and releases the runners. */
  stop(): Promise<void>;
}
