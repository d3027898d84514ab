import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UpdraftError } from "../errors/index.js";
import { checkTaskId, currentBuilder } from "./builder.js";
import { SkipError } from "./errors.js";
import { rejectUnknownKeys } from "./options.js";
import { defineTask } from "./task.js";
import type { TaskContext, TaskOptions, TaskRef } from "./types.js";

/**
 * What `bash()` takes: the command, its environment and working directory, and any task option.
 * @example
 *   bash({ id: "export", command: (ctx) => `./export.sh ${ctx.ds}`, env: { TARGET: "s3://bucket" },
 *          cwd: "/srv/jobs", retries: 2, executionTimeout: "10m" });
 */
export interface BashOptions extends TaskOptions {
  /** Unique in its DAG (or group): letters, digits, "_" and "-". */
  id: string;
  /** The command run by `bash -c`, or a function of the context that returns it (or a promise of it). */
  command: string | ((ctx: TaskContext) => string | Promise<string>);
  /**
   * Variables added to the environment the command inherits, or a function of the context that
   * returns them: the way to hand a command a secret, which then stays out of its command line.
   * The environment already holds the runner's and `UPDRAFT_DAG_ID`, `UPDRAFT_RUN_ID`,
   * `UPDRAFT_TASK_ID`, `UPDRAFT_TRY_NUMBER`, `UPDRAFT_LOGICAL_DATE` (ISO 8601, UTC) and
   * `UPDRAFT_DS`; a name given here wins.
   * @example
   *   env: async (ctx) => ({ PGPASSWORD: (await ctx.connection("warehouse")).password ?? "" })
   */
  env?: Record<string, string> | ((ctx: TaskContext) => Record<string, string> | Promise<Record<string, string>>);
  /** Working directory; by default a fresh temporary directory, removed afterwards. */
  cwd?: string;
  /**
   * Exit code(s) that mark the task skipped instead of failed: a code, a list of codes, or null
   * for none (Airflow's `skip_on_exit_code`; default 99). They are checked before success, so
   * `skipOnExitCode: 0` skips a command that succeeds.
   */
  skipOnExitCode?: number | readonly number[] | null;
}

const TAIL_BYTES = 64 * 1024;
const KILL_GRACE_MS = 2_000;

/**
 * Adds a task that runs a bash command (`bash -c`). Its output is the last line the command
 * printed to stdout; everything it prints goes to the try's log; a non-zero exit fails the try
 * (exit 99 skips it, or the codes of `skipOnExitCode`). When the try times out or is killed, the
 * command gets SIGTERM, then SIGKILL.
 * @example
 *   const day = bash({ id: "export", command: (ctx) => `./export.sh ${ctx.ds}`, retries: 2 });
 *   load(day); // load receives the last line export.sh printed
 */
export function bash(options: BashOptions): TaskRef<string> {
  const builder = currentBuilder("bash()");
  if (typeof options !== "object" || options === null) {
    throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", "bash() needs an options object", { hint: 'bash({ id: "hello", command: "echo hi" })' });
  }
  checkTaskId(options.id);
  rejectUnknownKeys(`bash '${options.id}'`, options, ["id", "command", "env", "cwd", "skipOnExitCode"]);
  const { command, env = {}, cwd } = options;
  const skipCodes = exitCodes(options.id, options.skipOnExitCode === undefined ? 99 : options.skipOnExitCode);
  if (typeof command !== "string" && typeof command !== "function") {
    throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `bash '${options.id}': command must be a string or a function of the context`, {
      hint: 'command: "echo hi" or command: (ctx) => `echo ${ctx.ds}`',
    });
  }
  return defineTask(builder, {
    id: options.id,
    explicitId: true,
    kind: "bash",
    input: undefined,
    hasInput: false,
    options: [options],
    display: typeof command === "string" ? { command } : {},
    run: async (_input, ctx) => runBash(typeof command === "string" ? command : await command(ctx), typeof env === "function" ? await env(ctx) : env, cwd, skipCodes, ctx),
  }) as TaskRef<string>;
}

function exitCodes(id: string, given: unknown): ReadonlySet<number> {
  const codes = given === null ? [] : Array.isArray(given) ? given : [given];
  for (const code of codes) {
    if (!Number.isInteger(code) || (code as number) < 0 || (code as number) > 255) {
      throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `bash '${id}': skipOnExitCode must be an exit code (0–255), a list of them, or null; got ${JSON.stringify(given)}`, {
        hint: "skipOnExitCode: 99, skipOnExitCode: [99, 100] or skipOnExitCode: null",
      });
    }
  }
  return new Set(codes as number[]);
}

async function runBash(command: string, env: Record<string, string>, cwd: string | undefined, skipCodes: ReadonlySet<number>, ctx: TaskContext): Promise<string> {
  if (typeof command !== "string" || command.trim() === "") {
    throw new UpdraftError("UPDRAFT_E_BASH_FAILED", "the bash command is empty", { hint: "return a command string from the command function" });
  }
  const workdir = cwd ?? (await mkdtemp(join(tmpdir(), "updraft-bash-")));
  try {
    ctx.log.info(`running: ${command}`);
    const child = spawn("bash", ["-c", command], {
      cwd: workdir,
      env: {
        ...process.env,
        UPDRAFT_DAG_ID: ctx.dagId,
        UPDRAFT_RUN_ID: ctx.runId,
        UPDRAFT_TASK_ID: ctx.taskId,
        UPDRAFT_TRY_NUMBER: String(ctx.tryNumber),
        UPDRAFT_LOGICAL_DATE: ctx.logicalDate.toISOString(),
        UPDRAFT_DS: ctx.ds,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    child.stdout.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString("utf8")).slice(-TAIL_BYTES);
    });
    child.stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    const onAbort = () => {
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS).unref();
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (c, s) => resolve([c, s]));
    }).finally(() => ctx.signal.removeEventListener("abort", onAbort));
    // The skip codes first, as in Airflow: skipOnExitCode 0 skips a command that succeeded.
    if (code !== null && skipCodes.has(code)) throw new SkipError(`bash command exited with code ${code}`);
    if (code === 0) {
      const lines = tail.split("\n").map((line) => line.replace(/\r$/, ""));
      while (lines.length > 0 && lines.at(-1) === "") lines.pop();
      return lines.at(-1) ?? "";
    }
    throw new UpdraftError("UPDRAFT_E_BASH_FAILED", signal ? `bash command was killed by ${signal}` : `bash command exited with code ${code}`, {
      hint: "the command's output is in this try's log",
    });
  } finally {
    if (cwd === undefined) await rm(workdir, { recursive: true, force: true });
  }
}
