/**
 * A task runner: a warm subprocess that runs one try at a time for an executor, from a queue the
 * executor fills ahead so that short tries follow each other without a round trip. It never touches
 * the database; inputs arrive with the try, results and logs go back over IPC. It leads its own
 * process group, so killing the group also kills whatever a task started (bash and its children).
 */
import { deferDagBodies } from "../sdk/dag.js";
import { controlKind } from "../sdk/errors.js";
import { installSdk } from "../sdk/global.js";
import * as sdk from "../sdk/index.js";
import { errorMessage } from "../errors/index.js";
import { LogCapture } from "./capture.js";
import type { FromRunner, ToRunner, TryPayload, TryResult } from "./protocol.js";
import { preloadBundle, runTry, shownError } from "./run-try.js";

installSdk(sdk);
// The DAG processor validated each version: a runner builds only the DAGs its tries need.
deferDagBodies();

const send = (message: FromRunner) => {
  if (process.connected) process.send!(message);
};

interface Current {
  payload: TryPayload;
  /** performance.now() from which the try is costed: its start, or the end of its DAG's build (null before). */
  codeAt: number | null;
  capture: LogCapture;
  abort: AbortController;
  done: boolean;
}
let current: Current | null = null;
/** Tries sent ahead, run in order once the one before has ended. */
const queue: TryPayload[] = [];
/** Set when the process is going down: it starts nothing more. */
let exiting = false;
/** The DAGs this runner has built (bundle hash and DAG id). */
const built = new Set<string>();
let nextReq = 1;
/** Answers awaited from the executor (XCom pulls, variables, connections), by request id. */
const pending = new Map<number, (answer: unknown) => void>();

function request<T>(message: (reqId: number) => FromRunner): Promise<T> {
  return new Promise((resolve) => {
    const reqId = nextReq++;
    pending.set(reqId, resolve as (answer: unknown) => void);
    send(message(reqId));
  });
}

// Everything a task prints goes into its try's log; the real stdout/stderr are left for crashes.
for (const stream of ["stdout", "stderr"] as const) {
  const target = process[stream];
  target.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error | null) => void), cb?: (e?: Error | null) => void) => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString(typeof encoding === "string" ? encoding : "utf8");
    current?.capture.write(stream, text);
    const callback = typeof encoding === "function" ? encoding : cb;
    callback?.();
    return true;
  }) as typeof target.write;
}

/**
 * Reports the try's end and, in the same message, the try it starts next: the executor learns
 * of the start before that try's code runs, so its execution timeout counts from there. A
 * runner whose try was stopped starts nothing more (the executor takes its queue back).
 */
function finish(cur: Current, result: TryResult): void {
  if (cur.done) return;
  cur.done = true;
  const lines = cur.capture.take(true);
  // The error is shown with the try (UI, CLI): it gets the masking its log lines got.
  const { masker } = cur.capture;
  if (result.error && masker.active) result = { ...result, error: { ...result.error, message: masker.mask(result.error.message), stack: result.error.stack === null ? null : masker.mask(result.error.stack) } };
  if (current === cur) current = null;
  const next = exiting || cur.abort.signal.aborted ? undefined : queue.shift();
  const ranMs = cur.codeAt === null ? undefined : performance.now() - cur.codeAt;
  send({ t: "finished", tryId: cur.payload.tryId, result, ...(lines.length > 0 ? { lines } : {}), ...(next ? { next: { tryId: next.tryId, at: Date.now() } } : {}), ...(ranMs === undefined ? {} : { ranMs }) });
  if (next) void run(next);
}

async function run(payload: TryPayload): Promise<void> {
  const cur: Current = {
    payload,
    codeAt: null,
    abort: new AbortController(),
    capture: new LogCapture((lines) => send({ t: "log", tryId: payload.tryId, lines })),
    done: false,
  };
  current = cur;
  const dagKey = `${payload.bundleHash}:${payload.dagId}`;
  // What a try costs this runner: from here, or, for the first try of a DAG, from the end of its build.
  if (built.has(dagKey)) cur.codeAt = performance.now();
  const result = await runTry(payload, {
    loaded: () => {
      if (built.has(dagKey)) return;
      cur.codeAt = performance.now();
      built.add(dagKey);
      send({ t: "loaded", tryId: payload.tryId, at: Date.now() });
    },
    capture: cur.capture,
    signal: cur.abort.signal,
    pullXcom: (taskId, key) => request((reqId) => ({ t: "xcomPull", tryId: payload.tryId, reqId, taskId, key })),
    pushXcom: (key, value) => send({ t: "xcomPush", tryId: payload.tryId, key, value }),
    secrets: {
      env: process.env,
      readVariable: (key) => request((reqId) => ({ t: "variableGet", tryId: payload.tryId, reqId, key })),
      readConnection: (connId) => request((reqId) => ({ t: "connectionGet", tryId: payload.tryId, reqId, connId })),
    },
  });
  finish(cur, result);
}

process.on("message", (message: ToRunner) => {
  if (message.t === "run") {
    queue.push(...message.payloads);
    if (current === null && !exiting) {
      const first = queue.shift()!;
      if (!message.startsFirst) send({ t: "started", tryId: first.tryId, at: Date.now() });
      void run(first);
    }
  } else if (message.t === "preload") {
    void preloadBundle(message.bundleHash, message.bundlePath);
  } else if (message.t === "abort") {
    if (current && current.payload.tryId === message.tryId) current.abort.abort(message.reason);
  } else if (message.t === "revoke") {
    const asked = new Set(message.tryIds);
    const revoked = queue.filter((p) => asked.has(p.tryId)).map((p) => p.tryId);
    for (let i = queue.length - 1; i >= 0; i--) if (asked.has(queue[i]!.tryId)) queue.splice(i, 1);
    send({ t: "revoked", tryIds: revoked });
  } else if (message.t === "xcom" || message.t === "variable" || message.t === "connection") {
    pending.get(message.reqId)?.(message.t === "xcom" ? message.value : message.answer);
    pending.delete(message.reqId);
  }
});

// Author code can throw from a timer or leave a promise rejected: that fails the try, and since
// the process may be left in a bad state, the runner then exits and is replaced.
const fatal = (error: unknown) => {
  exiting = true;
  const cur = current;
  if (cur) {
    cur.capture.log("error", [`uncaught error: ${shownError(error)}`]);
    const skip = controlKind(error) === "skip";
    finish(cur, skip
      ? { outcome: "skipped", at: Date.now() }
      : { outcome: "failed", error: { message: errorMessage(error), code: null, stack: error instanceof Error ? (error.stack ?? null) : null, retryable: controlKind(error) !== "non-retryable" }, at: Date.now() });
  }
  setTimeout(() => process.exit(70), 50);
};
process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);
// The executor is gone: take down this process group (tasks' children included).
process.on("disconnect", () => {
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {
    process.exit(0);
  }
});

send({ t: "ready", pid: process.pid });
