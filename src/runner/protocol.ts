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

export type ToRunner =
  | { t: "run"; payload: TryPayload }
  /** Import this bundle now: its tries are on their way. */
  | { t: "preload"; bundleHash: string; bundlePath: string }
  | { t: "abort"; tryId: string; reason: string }
  | { t: "xcom"; reqId: number; value: string | null }
  | { t: "variable"; reqId: number; answer: Lookup<StoredVariable> }
  | { t: "connection"; reqId: number; answer: Lookup<ConnectionParts> };

export type FromRunner =
  | { t: "ready"; pid: number }
  | { t: "log"; tryId: string; lines: LogLine[] }
  | { t: "xcomPull"; tryId: string; reqId: number; taskId: string; key: string }
  | { t: "variableGet"; tryId: string; reqId: number; key: string }
  | { t: "connectionGet"; tryId: string; reqId: number; connId: string }
  | { t: "xcomPush"; tryId: string; key: string; value: string }
  | { t: "finished"; tryId: string; result: TryResult };
