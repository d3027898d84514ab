/** Messages between an executor and a task runner process (over the fork IPC channel). */
import type { ConnectionParts } from "../util/connection-uri.js";

export type { ConnectionParts };

/** Everything a runner needs to run one try, decided by the scheduler. */
export interface TryPayload {
  tryId: string;
  tiId: number;
  dagRunId: number;
  dagId: string;
  runId: string;
  taskId: string;
  tryNumber: number;
  maxTries: number;
  bundleHash: string;
  /** Where the bundle is on this machine; the executor writes it before dispatch. */
  bundlePath: string;
  logicalDate: number;
  dataIntervalStart: number;
  dataIntervalEnd: number;
  ds: string;
  /** JSON text. */
  params: string;
  conf: string;
  /** Output (JSON text) of each upstream task whose output feeds this task's input. */
  inputs: Record<string, string>;
  /** JSON text of the whole input, instead of building it from `inputs` (`updraft tasks test --input`). */
  inputOverride?: string;
  executionTimeoutMs: number | null;
  xcomMaxBytes: number;
  /** The task's queue (`queue` option): which workers take it when an executor goes through a broker. */
  queue: string;
}

/** A try as the scheduler hands it to an executor; the executor adds where the bundle is. */
export type DispatchItem = Omit<TryPayload, "bundlePath">;

export interface LogLine {
  ts: number;
  stream: "log" | "stdout" | "stderr";
  level: "info" | "warn" | "error";
  message: string;
}

export interface TryError {
  message: string;
  code: string | null;
  stack: string | null;
  /** False for NonRetryableError and for failures a retry cannot fix. */
  retryable: boolean;
}

export type TryOutcome = "success" | "failed" | "skipped";

export interface TryResult {
  outcome: TryOutcome;
  /** JSON text of the output; absent when the task returned undefined. */
  output?: string;
  error?: TryError;
  at: number;
}

/** A variable as the metadata database holds it, decrypted; `secret` says its value is masked. */
export interface StoredVariable {
  value: string;
  secret: boolean;
}

/** Why a variable or connection could not be read (an UpdraftError's code, message and hint). */
export interface LookupError {
  code: string;
  message: string;
  hint: string | null;
}

/** The answer to a lookup: the value (null: there is none), or why it could not be read. */
export type Lookup<T> = { value: T | null } | { error: LookupError };

/**
 * A runner keeps a queue of the tries sent to it and runs them one at a time, in order. It tells
 * the executor which try it starts before that try's code runs: in the `finished` report of the
 * try before (`next`), or by `started` when it was idle. The one exception saves a message per
 * try when the executor knows the runner is idle: `run` with `startsFirst` means the executor
 * already counts the batch's first try as started.
 */
export type ToRunner =
  | { t: "run"; payloads: TryPayload[]; startsFirst: boolean }
  /** Import this bundle now: its tries are on their way. */
  | { t: "preload"; bundleHash: string; bundlePath: string }
  /** Stop the running try. */
  | { t: "abort"; tryId: string; reason: string }
  /** Hand back these tries if they have not started (answered by `revoked`). */
  | { t: "revoke"; tryIds: string[] }
  | { t: "xcom"; reqId: number; value: string | null }
  | { t: "variable"; reqId: number; answer: Lookup<StoredVariable> }
  | { t: "connection"; reqId: number; answer: Lookup<ConnectionParts> };

export type FromRunner =
  | { t: "ready"; pid: number }
  /** It began this try (at `at`, its clock), the first of its queue, after being idle. */
  | { t: "started"; tryId: string; at: number }
  /**
   * The try's DAG is built (the first try of that DAG on this runner: importing its bundle and
   * building a large DAG can take longer than a short try), and the task's own code runs from `at`.
   */
  | { t: "loaded"; tryId: string; at: number }
  | { t: "log"; tryId: string; lines: LogLine[] }
  | { t: "xcomPull"; tryId: string; reqId: number; taskId: string; key: string }
  | { t: "variableGet"; tryId: string; reqId: number; key: string }
  | { t: "connectionGet"; tryId: string; reqId: number; connId: string }
  | { t: "xcomPush"; tryId: string; key: string; value: string }
  /**
   * The try ended, with the log lines it had not sent yet; `next` is the try it begins now (the
   * next of its queue), so that one message carries both. `ranMs`: what the try cost the runner (not
   * counting the building of its DAG), which tells the executor how many tries to send ahead.
   */
  | { t: "finished"; tryId: string; result: TryResult; lines?: LogLine[]; next?: { tryId: string; at: number }; ranMs?: number }
  /** Of the tries asked back, these had not started and never will here. */
  | { t: "revoked"; tryIds: string[] };
