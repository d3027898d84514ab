/**
 * A task runner builds only the DAG of the try it runs, once, and without the checks the DAG
 * processor made when it stored the version (issue 9: runners must not pay for DAG validation or
 * for the other DAGs of the file).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogCapture } from "../../src/runner/capture.js";
import type { TryPayload } from "../../src/runner/protocol.js";
import { preloadBundle, runTry } from "../../src/runner/run-try.js";
import { deferDagBodies, takeDefinedDags } from "../../src/sdk/dag.js";
import { installSdk } from "../../src/sdk/global.js";
import * as sdk from "../../src/sdk/index.js";

// As a runner does at start (this file runs in a process of its own).
installSdk(sdk);
deferDagBodies();

// A bundle as the DAG processor writes it: the SDK comes from the global the runner set.
const BUNDLE = `const { dag, task, chain } = globalThis[Symbol.for("updraft.sdk")];
const bodies = (globalThis.__bodies ??= []);
const echo = task({ id: "echo", run: (input) => input ?? "none" });
dag({ id: "wanted" }, () => {
  bodies.push("wanted");
  const a = echo("hello", { id: "a" });
  echo(a, { id: "b" });
});
dag({ id: "broken" }, () => {
  bodies.push("broken");
  echo(undefined, { id: "first" });
  throw new Error("the body of broken threw");
});
// What the DAG processor refuses (a cycle, a negative retries): a runner does not look.
const strict = task({ id: "strict", run: () => "ran", retries: -1 });
dag({ id: "unchecked" }, () => {
  bodies.push("unchecked");
  const x = strict(undefined, { id: "x" });
  const y = echo(undefined, { id: "y" });
  chain(x, y);
  chain(y, x);
});
`;

let dir: string;
let bundlePath: string;
const bodies = () => (globalThis as { __bodies?: string[] }).__bodies ?? [];

function payload(dagId: string, taskId: string, extra: Partial<TryPayload> = {}): TryPayload {
  return {
    tryId: `test.${dagId}.${taskId}`,
    tiId: 1,
    dagRunId: 1,
    dagId,
    runId: "manual__1",
    taskId,
    tryNumber: 1,
    maxTries: 1,
    bundleHash: "bundle-1",
    bundlePath,
    logicalDate: 0,
    dataIntervalStart: 0,
    dataIntervalEnd: 0,
    ds: "1970-01-01",
    params: "{}",
    conf: "{}",
    inputs: {},
    executionTimeoutMs: null,
    xcomMaxBytes: 1 << 20,
    queue: "default",
    ...extra,
  };
}

async function run(p: TryPayload) {
  const lines: string[] = [];
  const capture = new LogCapture((batch) => lines.push(...batch.map((l) => l.message)));
  const result = await runTry(p, {
    capture,
    signal: new AbortController().signal,
    pullXcom: async () => null,
    pushXcom: () => {},
    secrets: { env: {}, readVariable: async () => ({ value: null }), readConnection: async () => ({ value: null }) },
  });
  capture.flush(true);
  return { result, lines };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "updraft-run-try-"));
  bundlePath = join(dir, "bundle-1.mjs");
  writeFileSync(bundlePath, BUNDLE);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a runner's DAGs", () => {
  it("importing a bundle (ahead of its tries) runs no DAG body and registers nothing for the DAG processor", async () => {
    await preloadBundle("bundle-1", bundlePath);
    expect(bodies()).toEqual([]);
    expect(takeDefinedDags()).toEqual([]);
  });

  it("builds the try's DAG on its first try, once, and not the other DAGs of the file", async () => {
    const first = await run(payload("wanted", "a"));
    expect(first.result).toMatchObject({ outcome: "success", output: '"hello"' });
    const second = await run(payload("wanted", "b", { inputs: { a: '"hello"' } }));
    expect(second.result).toMatchObject({ outcome: "success", output: '"hello"' });
    expect(bodies()).toEqual(["wanted"]);
  });

  it("does not check what the DAG processor checked: a cycle and an invalid option do not stop the try", async () => {
    const { result } = await run(payload("unchecked", "x"));
    expect(result).toMatchObject({ outcome: "success", output: '"ran"' });
  });

  it("a body that throws fails each of its tries with its error, and runs only once", async () => {
    const before = bodies().filter((b) => b === "broken").length;
    for (let i = 0; i < 2; i++) {
      const { result, lines } = await run(payload("broken", "first"));
      expect(result.outcome).toBe("failed");
      expect(result.error).toMatchObject({ message: "the body of broken threw", retryable: true });
      expect(lines.join("\n")).toMatch(/importing the DAG file failed/);
    }
    expect(bodies().filter((b) => b === "broken").length - before).toBe(1);
  });

  it("a task the DAG does not define fails with UPDRAFT_E_TASK_NOT_FOUND", async () => {
    const { result } = await run(payload("wanted", "nope"));
    expect(result).toMatchObject({ outcome: "failed", error: { code: "UPDRAFT_E_TASK_NOT_FOUND" } });
  });
});

describe("two versions imported at once", () => {
  // A version whose module waits after defining its DAG (a top-level await), and another one:
  // imported side by side (a preload of one while a try of the other arrives), each keeps its DAG.
  const version = (label: string, wait: boolean) => `const { dag, task } = globalThis[Symbol.for("updraft.sdk")];
const a = task({ id: "a", run: () => "${label}" });
dag({ id: "versioned" }, () => { a(); });
${wait ? "await new Promise((r) => setTimeout(r, 50));" : ""}
`;

  it("each try runs its own version's task", async () => {
    const slow = join(dir, "v1.mjs");
    const quick = join(dir, "v2.mjs");
    writeFileSync(slow, version("v1", true));
    writeFileSync(quick, version("v2", false));
    const preload = preloadBundle("v1", slow);
    const [second, first] = await Promise.all([
      run(payload("versioned", "a", { bundleHash: "v2", bundlePath: quick })),
      run(payload("versioned", "a", { bundleHash: "v1", bundlePath: slow })),
    ]);
    await preload;
    expect(first.result).toMatchObject({ outcome: "success", output: '"v1"' });
    expect(second.result).toMatchObject({ outcome: "success", output: '"v2"' });
  });
});
