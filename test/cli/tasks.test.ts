/** `updraft tasks …`: list, state, logs, clear, mark and test. */
import { hostname } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { createCliEnv, type CliEnv, type DagTestResult, type RunListItem, type TaskStateJson, CLI_TEST_TIMEOUT_MS } from "./cli.js";

// hello → shout; hello → flaky (fails on both of its tries) → after (upstream_failed).
const PIPE = `
import { dag, task } from "updraft";
const hello = task({
  id: "hello",
  run: (_: void, ctx) => {
    ctx.log.info("hello from ctx.log");
    console.log("hello from console.log");
    return { x: ctx.conf.x ?? "none" };
  },
});
const shout = task({ id: "shout", run: (v: { x: unknown }) => ({ loud: String(v.x).toUpperCase() }) });
const flaky = task({
  id: "flaky",
  retries: 1,
  retryDelay: "300ms",
  run: (_v: { x: unknown }, ctx) => {
    ctx.log.warn("attempt " + ctx.tryNumber);
    throw new Error("boom on try " + ctx.tryNumber);
  },
});
const after = task({ id: "after", run: () => "unreachable" });
export default dag({ id: "pipe" }, () => {
  const h = hello();
  shout(h);
  after().after(flaky(h));
});
`;

let env: CliEnv | undefined;
afterEach(() => {
  env?.cleanup();
  env = undefined;
});

async function runState(e: CliEnv, runId: string): Promise<string> {
  const runs = await e.json<RunListItem[]>(["dags", "list-runs", "pipe", "--json"]);
  const run = runs.find((r) => r.runId === runId);
  if (!run) throw new Error(`run ${runId} not listed`);
  return run.state;
}

async function taskState(e: CliEnv, runId: string, taskId: string): Promise<string> {
  const res = await e.run(["tasks", "state", "pipe", runId, taskId]);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.trim();
}

describe("updraft tasks", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("after a failed `dags test` (exit 1, retries honoured): lists tasks, shows states with tries, prints logs per try, clears and marks", async () => {
    env = createCliEnv({ "pipe.ts": PIPE });
    const tested = await env.run(["dags", "test", "pipe", "--json"]);
    expect(tested.code, tested.stderr).toBe(1);
    const run = JSON.parse(tested.stdout) as DagTestResult;
    expect(run.state).toBe("failed");
    expect(Object.fromEntries(run.tasks.map((t) => [t.taskId, [t.state, t.tryNumber]]))).toEqual({
      hello: ["success", 1],
      shout: ["success", 1],
      flaky: ["failed", 2],
      after: ["upstream_failed", 0],
    });

    // Read-only commands, run side by side.
    const [list, stateText, state, latest, first, none] = await Promise.all([
      env.json<Array<{ taskId: string; upstream: string[]; retries: number; kind: string }>>(["tasks", "list", "pipe", "--json"]),
      env.run(["tasks", "state", "pipe", run.runId, "flaky"]),
      env.json<TaskStateJson>(["tasks", "state", "pipe", run.runId, "flaky", "--json"]),
      env.run(["tasks", "logs", "pipe", run.runId, "flaky"]),
      env.run(["tasks", "logs", "pipe", run.runId, "flaky", "--try", "1"]),
      env.run(["tasks", "logs", "pipe", run.runId, "flaky", "--try", "9"]),
    ]);
    expect(Object.fromEntries(list.map((t) => [t.taskId, { upstream: t.upstream, retries: t.retries, kind: t.kind }]))).toEqual({
      hello: { upstream: [], retries: 0, kind: "task" },
      shout: { upstream: ["hello"], retries: 0, kind: "task" },
      flaky: { upstream: ["hello"], retries: 1, kind: "task" },
      after: { upstream: ["flaky"], retries: 0, kind: "task" },
    });

    // state: text and JSON with the history of tries
    expect(stateText).toEqual({ code: 0, stdout: "failed\n", stderr: "" });
    expect(state).toMatchObject({ dagId: "pipe", runId: run.runId, taskId: "flaky", state: "failed", tryNumber: 2, maxTries: 2 });
    expect(state.tries.map((t) => [t.tryNumber, t.state])).toEqual([
      [1, "failed"],
      [2, "failed"],
    ]);
    expect(state.tries[0]!.error).toContain("boom on try 1");
    // Where each try ran (a runner of this host, here).
    expect(state.tries[0]!.hostname).toBe(hostname());
    expect(typeof state.tries[0]!.pid).toBe("number");
    expect(state.tries[1]!.error).toContain("boom on try 2");
    // The stack of the task's own code: the DAG file's frame, none of the runner's.
    expect(state.tries[0]!.stack).toMatch(/^Error: boom on try 1\n {4}at .*pipe\.ts:\d+:\d+\)?$/);

    // logs: the latest try by default, an earlier one with --try, a clear error for a try that never was
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.stdout).toContain("attempt 2");
    expect(latest.stdout).not.toContain("attempt 1");
    // The failure's line: the stack of the task's own code (each line of a message is a log line).
    expect(latest.stdout).toMatch(/ERROR failed: Error: boom on try 2\n\S+ ERROR {5}at Object\.run \(\S+pipe\.ts:\d+:\d+\)\n\S+ ERROR {5}… \d+ frames? of Updraft/);
    expect(latest.stdout).not.toMatch(/run-try|runner-main|node:internal/);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("attempt 1");
    expect(first.stdout).not.toContain("attempt 2");
    expect(none.code).toBe(2);
    expect(none.stdout).toBe("");
    expect(none.stderr).toContain("there is no try 9");

    // clear --dry-run names what would be cleared and changes nothing
    const dry = await env.json<{ dryRun: boolean; taskInstances: Array<{ taskId: string; state: string }> }>(["tasks", "clear", "pipe", run.runId, "flaky", "--downstream", "--dry-run", "--json"]);
    expect(dry.dryRun).toBe(true);
    expect(dry.taskInstances.map((t) => [t.taskId, t.state]).sort()).toEqual([
      ["after", "upstream_failed"],
      ["flaky", "failed"],
    ]);
    expect(await runState(env, run.runId)).toBe("failed");

    // a real clear: the task (and its downstream) go back to none, the run to queued
    const clear = await env.run(["tasks", "clear", "pipe", run.runId, "flaky", "--downstream"]);
    expect(clear.code, clear.stderr).toBe(0);
    expect(clear.stdout).toContain("cleared 2 task instance(s)");
    const [flakyAfterClear, runAfterClear] = await Promise.all([taskState(env, run.runId, "flaky"), runState(env, run.runId)]);
    expect(flakyAfterClear).toBe("none");
    expect(runAfterClear).toBe("queued");

    // mark
    const mark = await env.json<{ dryRun: boolean; state: string; taskInstances: Array<{ taskId: string; state: string }> }>(["tasks", "mark", "pipe", run.runId, "flaky", "success", "--json"]);
    expect(mark).toEqual({ dryRun: false, state: "success", taskInstances: [{ taskId: "flaky", state: "none" }] });
    const [flakyAfterMark, bad] = await Promise.all([taskState(env, run.runId, "flaky"), env.run(["tasks", "mark", "pipe", run.runId, "after", "running"])]);
    expect(flakyAfterMark).toBe("success");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("cannot mark a task instance 'running'");
  });

  it("tests one task: its output, --input for a task that takes input, a missing input, a failure", async () => {
    env = createCliEnv({ "pipe.ts": PIPE });

    const root = await env.run(["tasks", "test", "pipe", "hello", "--conf", '{"x": "hi"}', "--json"]);
    expect(root.code, root.stderr).toBe(0);
    expect(JSON.parse(root.stdout)).toEqual({ dagId: "pipe", taskId: "hello", state: "success", output: { x: "hi" }, error: null });
    expect(root.stderr).toContain("hello from ctx.log"); // with --json the task's log goes to stderr

    const withInput = await env.run(["tasks", "test", "pipe", "shout", "--input", '{"x": "quiet"}']);
    expect(withInput.code, withInput.stderr).toBe(0);
    expect(withInput.stdout).toContain('shout: success, output {"loud":"QUIET"}');

    const missing = await env.run(["tasks", "test", "pipe", "shout"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("task 'shout' takes the output of 'hello'");
    expect(missing.stderr).toContain("--input");

    const failing = await env.run(["tasks", "test", "pipe", "flaky", "--input", '{"x": 1}']);
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain("attempt 1");
    expect(failing.stdout).toContain("flaky: failed");
    expect(failing.stdout).toContain("boom on try 1");
  });
});
