/**
 * The local executor sends short tries ahead to its runners, several per message (issue 9). What
 * must hold whatever a runner holds in its queue: every try starts once and ends once; a try
 * stuck behind a long one is taken back for a free runner; a runner that crashes or times out
 * hands its unstarted tries to another runner without spending a retry; a try killed while it
 * waits on a runner never starts; the bundles of runs that start are imported ahead, each by one
 * runner.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalExecutor } from "../../src/executor/local-executor.js";
import type { DispatchItem, ExecutorCallbacks, TryResult } from "../../src/executor/types.js";
import { silentLogger } from "../../src/util/logger.js";
import { waitFor } from "../scheduler/support.js";

// A bundle as the DAG processor writes it. `wait` runs until the file named by its input exists.
const BUNDLE = `import { existsSync } from "node:fs";
const { dag, task } = globalThis[Symbol.for("updraft.sdk")];
const quick = task({ id: "quick", run: (n) => n });
const wait = task({ id: "wait", run: async (file) => {
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 10));
  return "released";
} });
const spin = task({ id: "spin", run: () => { for (;;) {} } });
const crash = task({ id: "crash", run: () => { process.exit(3); } });
dag({ id: "d" }, () => {
  quick(0, { id: "quick" });
  wait("", { id: "wait" });
  spin(undefined, { id: "spin" });
  crash(undefined, { id: "crash" });
});
`;
const HASH = "bundle-exec-1";

interface Seen {
  started: string[];
  finished: Map<string, TryResult[]>;
  pids: Map<string, number>;
  startedAt: Map<string, number>;
}

let dir: string;
let executor: LocalExecutor | null = null;
let seen: Seen;
let next = 0;

function callbacks(): ExecutorCallbacks {
  return {
    started: (tryId, info) => {
      seen.started.push(tryId);
      seen.pids.set(tryId, info.pid);
      seen.startedAt.set(tryId, info.at);
    },
    finished: (tryId, result) => seen.finished.set(tryId, [...(seen.finished.get(tryId) ?? []), result]),
    log: () => {},
    xcomPush: () => {},
    pullXcom: async () => null,
    readVariable: async () => null,
    readConnection: async () => null,
    loadBundle: async () => BUNDLE,
  };
}

async function start(options: { maxRunners: number; warmRunners: number }): Promise<LocalExecutor> {
  executor = new LocalExecutor({ ...options, memoryLimitMb: 512, killGraceMs: 300, bundleDir: join(dir, "bundles"), log: silentLogger() });
  await executor.start(callbacks());
  return executor;
}

/** A try of task `taskId` whose input is `input` (JSON-encoded). */
function item(taskId: string, input: unknown = null, executionTimeoutMs: number | null = null): DispatchItem {
  next++;
  return {
    tryId: `try-${next}`, tiId: next, dagRunId: 1, dagId: "d", runId: "manual__1", taskId, tryNumber: 1, maxTries: 1, bundleHash: HASH,
    logicalDate: 0, dataIntervalStart: 0, dataIntervalEnd: 0, ds: "1970-01-01", params: "{}", conf: "{}",
    inputs: {}, inputOverride: JSON.stringify(input), executionTimeoutMs, xcomMaxBytes: 65_536, queue: "default",
  };
}

const ended = (items: DispatchItem[]) => () => items.every((i) => seen.finished.has(i.tryId));
const outcome = (i: DispatchItem) => seen.finished.get(i.tryId)?.[0];

/** Runs short tries until the executor has learnt that tries are short (it then sends ahead). */
async function warmUp(e: LocalExecutor): Promise<void> {
  const warm = Array.from({ length: 6 }, (_, n) => item("quick", n));
  for (const w of warm) {
    e.dispatch([w]);
    await waitFor("a warm-up try to end", ended([w]), 60_000);
  }
  await waitFor("the executor to send tries ahead", () => e.freeSlots() > 2, 60_000);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "updraft-executor-"));
  seen = { started: [], finished: new Map(), pids: new Map(), startedAt: new Map() };
});

afterEach(async () => {
  await executor?.stop();
  executor = null;
  rmSync(dir, { recursive: true, force: true });
});

describe("local executor with tries sent ahead", () => {
  it("runs a batch of short tries on the warm runners: each starts once, before it ends once, with its own result", { timeout: 120_000 }, async () => {
    const e = await start({ maxRunners: 2, warmRunners: 2 });
    await warmUp(e);
    const batch = Array.from({ length: 30 }, (_, n) => item("quick", n));
    e.dispatch(batch);
    await waitFor("the batch to end", ended(batch), 60_000);
    for (const [n, i] of batch.entries()) {
      expect(seen.finished.get(i.tryId)).toEqual([{ outcome: "success", output: String(n), at: expect.any(Number) }]);
      expect(seen.started.filter((id) => id === i.tryId)).toHaveLength(1);
      expect(seen.startedAt.get(i.tryId)!).toBeLessThanOrEqual(outcome(i)!.at);
    }
    expect(e.activeTryIds()).toEqual([]);
  });

  it("short tries stay on the runner that built their DAG instead of every idle runner building it", { timeout: 180_000 }, async () => {
    const e = await start({ maxRunners: 4, warmRunners: 4 });
    // Until tries are seen to cost under ~3 ms (a busy machine can make a no-op cost more): then
    // at least 6 are sent ahead per runner, and 12 tries need 2 runners, not 4.
    await waitFor("tries to be sent at least 6 deep", async () => {
      await warmUp(e);
      return e.freeSlots() >= 4 * 6;
    }, 150_000, 0);
    const depth = e.freeSlots() / 4; // nothing in flight: the free slots are the runners times the depth
    const warmPids = new Set([...seen.pids.values()]);
    const batch = Array.from({ length: 12 }, (_, n) => item("quick", n));
    e.dispatch(batch);
    await waitFor("the batch to end", ended(batch), 60_000);
    const pids = new Set(batch.map((i) => seen.pids.get(i.tryId)));
    expect(warmPids.size).toBe(1);
    expect(pids.size).toBeLessThanOrEqual(Math.ceil(12 / depth));
    expect([...pids].some((p) => warmPids.has(p!))).toBe(true);
  });

  it("a try queued behind a long one on a runner is taken back and runs on another runner meanwhile", { timeout: 120_000 }, async () => {
    const e = await start({ maxRunners: 2, warmRunners: 1 });
    await warmUp(e);
    const release = join(dir, "release");
    const long = item("wait", release);
    const behind = Array.from({ length: 5 }, (_, n) => item("quick", n));
    e.dispatch([long, ...behind]);
    await waitFor("the tries behind the long one to end while it runs", ended(behind), 60_000);
    expect(seen.finished.has(long.tryId)).toBe(false);
    for (const b of behind) {
      expect(outcome(b)?.outcome).toBe("success");
      expect(seen.pids.get(b.tryId)).not.toBe(seen.pids.get(long.tryId));
    }
    writeFileSync(release, "");
    await waitFor("the long try to end", ended([long]), 60_000);
    expect(outcome(long)).toMatchObject({ outcome: "success", output: '"released"' });
  });

  it("a runner that crashes hands the tries queued on it to a new runner; they run once, no retry spent", { timeout: 120_000 }, async () => {
    const e = await start({ maxRunners: 1, warmRunners: 1 });
    await warmUp(e);
    const crash = item("crash");
    const behind = Array.from({ length: 4 }, (_, n) => item("quick", n));
    e.dispatch([crash, ...behind]);
    await waitFor("every try to end", ended([crash, ...behind]), 60_000).catch((error: unknown) => {
      // What the executor holds, to tell where a try got stuck.
      const state = { started: seen.started.slice(-6), finished: [crash, ...behind].map((i) => [i.tryId, outcome(i)?.outcome ?? null]), active: e.activeTryIds(), free: e.freeSlots() };
      throw new Error(`${String(error)}; ${JSON.stringify(state)}`);
    });
    expect(outcome(crash)?.error?.code).toBe("UPDRAFT_E_RUNNER_CRASHED");
    for (const b of behind) {
      expect(seen.finished.get(b.tryId)).toHaveLength(1);
      expect(outcome(b)?.outcome).toBe("success");
      expect(seen.started.filter((id) => id === b.tryId)).toHaveLength(1);
      expect(seen.pids.get(b.tryId)).not.toBe(seen.pids.get(crash.tryId));
    }
  });

  it("a try that times out with tries queued behind it: it fails with UPDRAFT_E_TASK_TIMEOUT counted from its start, the others run elsewhere", { timeout: 120_000 }, async () => {
    const e = await start({ maxRunners: 1, warmRunners: 1 });
    await warmUp(e);
    const spin = item("spin", null, 400);
    const behind = Array.from({ length: 3 }, (_, n) => item("quick", n));
    e.dispatch([spin, ...behind]);
    await waitFor("every try to end", ended([spin, ...behind]), 60_000);
    expect(outcome(spin)?.error?.code).toBe("UPDRAFT_E_TASK_TIMEOUT");
    expect(outcome(spin)!.at - seen.startedAt.get(spin.tryId)!).toBeGreaterThanOrEqual(400);
    for (const b of behind) {
      expect(outcome(b)?.outcome).toBe("success");
      expect(seen.pids.get(b.tryId)).not.toBe(seen.pids.get(spin.tryId));
    }
  });

  it("a try killed while it waits on a runner ends at once as killed and never starts", { timeout: 120_000 }, async () => {
    const e = await start({ maxRunners: 1, warmRunners: 1 });
    await warmUp(e);
    const release = join(dir, "release");
    const long = item("wait", release);
    const victim = item("quick", 1);
    const after = item("quick", 2);
    e.dispatch([long, victim, after]);
    await waitFor("the long try to start", () => seen.started.includes(long.tryId), 60_000);
    e.kill(victim.tryId, "marked failed elsewhere");
    expect(outcome(victim)).toMatchObject({ outcome: "failed", error: { message: "killed: marked failed elsewhere", retryable: false } });
    expect(e.activeTryIds()).not.toContain(victim.tryId);
    writeFileSync(release, "");
    await waitFor("the others to end", ended([long, after]), 60_000);
    expect(outcome(after)?.outcome).toBe("success");
    expect(seen.started).not.toContain(victim.tryId);
    expect(seen.finished.get(victim.tryId)).toHaveLength(1);
    expect(existsSync(release)).toBe(true);
  });

  it("bundles of runs that start are fetched once and imported ahead by one runner, where the first try of their DAG then runs", { timeout: 120_000 }, async () => {
    // Each bundle leaves a file named by the process that imported it.
    const marks = join(dir, "marks");
    const bundle = (name: string) => `import { writeFileSync } from "node:fs";
writeFileSync(${JSON.stringify(marks)} + "/${name}-" + process.pid, "");
const { dag, task } = globalThis[Symbol.for("updraft.sdk")];
const quick = task({ id: "quick", run: () => "${name}" });
dag({ id: "${name}" }, () => { quick(undefined, { id: "quick" }); });
`;
    const fetched: string[] = [];
    executor = new LocalExecutor({ maxRunners: 2, warmRunners: 2, memoryLimitMb: 512, killGraceMs: 300, bundleDir: join(dir, "bundles"), log: silentLogger() });
    await executor.start({ ...callbacks(), loadBundle: async (hash) => (fetched.push(hash), bundle(hash)) });
    mkdirSync(marks);
    const importers = (name: string) => readdirSync(marks).filter((f) => f.startsWith(`${name}-`)).map((f) => Number(f.slice(name.length + 1)));
    executor.prepare(["a", "b"]);
    const tries = ["a", "b"].map((name) => ({ ...item("quick"), dagId: name, bundleHash: name }));
    executor.dispatch([tries[0]!]); // while "a" is still being written: it is fetched once all the same
    await waitFor("both bundles imported ahead", () => importers("a").length > 0 && importers("b").length > 0, 60_000);
    await waitFor("the try of a", ended([tries[0]!]), 60_000);
    executor.dispatch([tries[1]!]);
    await waitFor("the try of b", ended([tries[1]!]), 60_000);
    expect(fetched.sort()).toEqual(["a", "b"]);
    for (const [n, name] of ["a", "b"].entries()) {
      expect(outcome(tries[n]!)).toMatchObject({ outcome: "success", output: JSON.stringify(name) });
      expect(importers(name)).toEqual([seen.pids.get(tries[n]!.tryId)]);
    }
  });
});
