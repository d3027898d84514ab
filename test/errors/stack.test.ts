/**
 * The split of a failed try's stack into the author's frames and Updraft's: with the stacks real
 * failing tasks leave (run by the scheduler and the local executor), and with written-out ones for
 * the shapes a real run does not give on demand.
 */
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { splitStack, userStack } from "../../src/errors/stack.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { runDag } from "../helpers/run.js";
import { logLines, triesOf } from "../scheduler/support.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A helper of the author's, called through Array.map from the task; and a timer that throws. */
const FAILING = `
  import { dag, task } from "updraft";
  function parseAmount(text: string): number {
    const n = Number(text);
    if (Number.isNaN(n)) throw new Error("not an amount: " + text);
    return n;
  }
  const parse = task({ id: "parse", run: async () => { await Promise.resolve(); return ["12", "x"].map(parseAmount); } });
  const later = task({ id: "later", run: () => new Promise(() => { setTimeout(function fireLater() { throw new Error("thrown from a timer"); }, 5); }) });
  export default dag({ id: "failing" }, () => { parse(); later(); });
`;

const frames = (stack: string) => stack.split("\n").filter((l) => /^\s+at /.test(l));

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe("a failed try's stack", () => {
  it("is stored whole; the split keeps the author's frames and drops the runner's and Node's, in the log line too", async () => {
    env = await createTestEnv({ dags: { "failing.ts": FAILING } });
    const run = await runDag(env, "failing");
    expect(run.state).toBe("failed");
    const file = `${env.dagsFolder}/failing.ts`;

    const [parseTry] = await triesOf(env, run.id, "parse");
    const full = parseTry!.error!.stack!;
    // What the runner recorded: the author's frames, then Updraft's runner.
    expect(full).toContain(`at parseAmount (${file}:`);
    expect(full).toMatch(/run-try\.ts:\d+/);
    expect(full).toMatch(/runner-main\.ts:\d+/);

    const split = splitStack(full);
    expect(split.user.split("\n")[0]).toBe("Error: not an amount: x");
    const kept = frames(split.user);
    expect(kept[0]).toContain(`at parseAmount (${file}:`);
    expect(kept).toContain("    at Array.map (<anonymous>)");
    expect(kept.at(-1)).toContain(`(${file}:`);
    expect(split.user).not.toMatch(/run-try|runner-main|node:internal/);
    expect(split.hidden).toBe(frames(full).length - kept.length);
    expect(split.hidden).toBeGreaterThan(0);

    // The timer's error reaches the runner as an uncaught exception: Node's timer frames go.
    const [laterTry] = await triesOf(env, run.id, "later");
    const timerStack = laterTry!.error!.stack!;
    expect(timerStack).toMatch(/node:internal\/timers/);
    expect(frames(splitStack(timerStack).user)).toEqual([expect.stringContaining(`at Timeout.fireLater (${file}:`)]);

    // The try's log line shows the author's frames and says how many were left out.
    const log = (await logLines(env, run.tasks.parse!.id, 1)).map((l) => l.message).join("\n");
    expect(log).toContain(`at parseAmount (${file}:`);
    expect(log).not.toMatch(/run-try|runner-main/);
    expect(log).toContain(`… ${split.hidden} frames of Updraft and Node.js not shown`);
    const timerLog = (await logLines(env, run.tasks.later!.id, 1)).map((l) => l.message).join("\n");
    expect(timerLog).toContain("uncaught error: Error: thrown from a timer");
    expect(timerLog).not.toContain("node:internal");
  });
});

describe("splitStack", () => {
  const own = [`${ROOT}src/`, `${ROOT}dist/`];

  it("drops Updraft's sources and build, Updraft installed as a package, and node: internals; keeps file:// URLs of the author", () => {
    const stack = [
      "TypeError: Cannot read properties of undefined (reading 'x')",
      "    at load (file:///home/ada/dags/etl%20jobs/load.ts:10:5)",
      `    at Object.push (${ROOT}src/runner/run-try.ts:99:11)`,
      "    at transform (/home/ada/dags/etl.ts:20:3)",
      `    at runTry (${ROOT}dist/runner/run-try.js:120:7)`,
      "    at run (/srv/app/node_modules/updraft/dist/runner/runner-main.js:58:18)",
      "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
    ].join("\n");
    const { user, hidden } = splitStack(stack, own);
    expect(user.split("\n")).toEqual([
      "TypeError: Cannot read properties of undefined (reading 'x')",
      "    at load (file:///home/ada/dags/etl%20jobs/load.ts:10:5)",
      "    at transform (/home/ada/dags/etl.ts:20:3)",
    ]);
    expect(hidden).toBe(4);
  });

  it("keeps a multi-line message and frames without a file between the author's, not after them", () => {
    const stack = [
      "Error: two",
      "lines",
      "    at JSON.parse (<anonymous>)",
      "    at read (/dags/a.ts:3:9)",
      "    at async Promise.all (index 0)",
      "    at main (/dags/a.ts:8:1)",
      "    at new Promise (<anonymous>)",
      `    at runTry (${ROOT}src/runner/run-try.ts:1:1)`,
    ].join("\n");
    expect(splitStack(stack, own).user.split("\n")).toEqual(["Error: two", "lines", "    at JSON.parse (<anonymous>)", "    at read (/dags/a.ts:3:9)", "    at async Promise.all (index 0)", "    at main (/dags/a.ts:8:1)"]);
    expect(splitStack(stack, own).hidden).toBe(2);
  });

  it("an error raised inside Updraft (a bash task, a bad output) keeps only its header; a stack without frames is left as it is", () => {
    const stack = [`Error: bash exited with code 3`, `    at ChildProcess.<anonymous> (${ROOT}src/sdk/bash.ts:80:20)`, "    at ChildProcess.emit (node:events:518:28)"].join("\n");
    expect(splitStack(stack, own)).toEqual({ user: "Error: bash exited with code 3", hidden: 2 });
    expect(splitStack("Error: no frames", own)).toEqual({ user: "Error: no frames", hidden: 0 });
    expect(userStack("Error: no frames")).toBe("Error: no frames");
    expect(userStack(`Error: x\n    at f (/dags/a.ts:1:1)\n    at g (node:internal/timers:1:1)`)).toBe(
      "Error: x\n    at f (/dags/a.ts:1:1)\n    … 1 frame of Updraft and Node.js not shown (the try's full stack is in the API and the UI)",
    );
  });
});
